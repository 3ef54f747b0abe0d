using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Core.Access;

/// <summary>What an actor wants to do.</summary>
public enum AccessAction
{
    /// <summary>Find a patient's identity (PDQm). Identity only, no health data.</summary>
    FindPatient,
    /// <summary>Search the documents or results of a record.</summary>
    SearchRecord,
    ReadDocument,
    CreateDocument,
    ReplaceDocument,
    EraseDocument,
    DeleteDocument,
    /// <summary>Open, close or reopen a record, change its settings.</summary>
    ManageRecord,
}

/// <summary>The facts of a record that the policy needs.</summary>
public sealed record RecordFacts(string RecordId, RecordStatus Status, string? TreatingPhysicianId);

/// <summary>The facts of a document that the policy needs.</summary>
public sealed record DocumentFacts(string DocumentId, string? AuthorProfessionalId, string? SubmitterId);

/// <summary>Which documents of a record a search may return, expressed so that it can be applied in SQL.</summary>
public enum DocumentScope
{
    None,
    /// <summary>Only the documents the actor authored or submitted.</summary>
    OwnDocuments,
    All,
}

/// <summary>The input of the policy: one question.</summary>
public sealed record AccessRequest(Actor Actor, AccessAction Action, RecordFacts? Record = null, DocumentFacts? Document = null);

/// <summary>The answer: permit or deny, why, and under which mode. Every decision, permit or deny, is recorded in the audit trail by the caller.</summary>
public sealed record AccessDecision(bool Permitted, string Reason, string Mode, DocumentScope Scope)
{
    public static AccessDecision Deny(string reason) => new(false, reason, "none", DocumentScope.None);
}

/// <summary>
/// The single access-policy function (design D9). Pure: depends only on its input. Every read,
/// write and search of patient data asks it. Foundation regime: the record's treating physician
/// may read and write the whole record; a document's author (or submitter) may read, replace and
/// erase that document. Everything else is denied. The trust-services issue replaces the body of
/// <see cref="Decide"/> with the full consent regime without touching the callers.
/// </summary>
public static class AccessPolicy
{
    public static AccessDecision Decide(AccessRequest request)
    {
        var actor = request.Actor;
        if (string.IsNullOrEmpty(actor.Id))
        {
            return AccessDecision.Deny("no identified actor");
        }

        if (actor.Kind == ActorKind.System)
        {
            // The operator's tool administers records (import, opening, closing); it is audited like anyone.
            return new AccessDecision(true, "operator administration", "operator", DocumentScope.All);
        }

        if (actor.Kind != ActorKind.Professional)
        {
            return AccessDecision.Deny("patient access is not available yet");
        }

        if (request.Action == AccessAction.FindPatient)
        {
            return new AccessDecision(true, "identity search by an authenticated professional", "identity", DocumentScope.None);
        }

        var record = request.Record;
        if (record is null)
        {
            return AccessDecision.Deny("no record given");
        }

        if (request.Action == AccessAction.ManageRecord)
        {
            return AccessDecision.Deny("records are managed by the patient and the operator");
        }

        if (record.Status != RecordStatus.Open)
        {
            return AccessDecision.Deny("the record is closed");
        }

        var isTreating = record.TreatingPhysicianId is not null && record.TreatingPhysicianId == actor.Id;
        if (isTreating)
        {
            return new AccessDecision(true, "treating physician", "treating-physician", DocumentScope.All);
        }

        switch (request.Action)
        {
            case AccessAction.SearchRecord:
                return new AccessDecision(true, "author of documents in the record", "author", DocumentScope.OwnDocuments);
            case AccessAction.ReadDocument:
            case AccessAction.ReplaceDocument:
            case AccessAction.EraseDocument:
                var doc = request.Document;
                if (doc is not null && (doc.AuthorProfessionalId == actor.Id || doc.SubmitterId == actor.Id))
                {
                    return new AccessDecision(true, "author of the document", "author", DocumentScope.OwnDocuments);
                }

                return AccessDecision.Deny("neither the treating physician nor the author of the document");
            default:
                return AccessDecision.Deny("only the treating physician may do this on the record");
        }
    }
}
