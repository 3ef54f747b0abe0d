using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents.Cda;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Core.Documents;

/// <summary>
/// IHE MHD ITI-105 Simplified Publish (PDSm flux 9): one DocumentReference carrying its document in
/// attachment.data. A CDA R2 document may come with no other metadata: what the DocumentReference
/// does not give comes from the CDA header (<see cref="CdaMetadata"/>), and the patient named by the
/// header's INS must have the header's strict traits. The publication then goes through ITI-65
/// (<see cref="ProvideDocumentBundle"/>) as a one-document submission: same policy, validation,
/// audit and all-or-nothing write.
/// </summary>
public sealed class SimplifiedPublish(DmpDbContext db, ProvideDocumentBundle provide, TerminologyCatalog terminology, DocumentOptions options)
{
    private const string SourceIdExtension = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId";

    /// <summary>Media types under which a CDA R2 document travels.</summary>
    public static readonly IReadOnlySet<string> CdaMediaTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "text/xml", "application/xml", "application/hl7-v3+xml", "application/hl7-cda+xml" };

    /// <summary>Publishes the document; returns the stored DocumentReference (id, version 1).</summary>
    public async Task<(string Id, string Json)> HandleAsync(DocumentReference doc, Actor actor, string channel, CancellationToken ct)
    {
        if (doc.Content.Count != 1 || doc.Content[0].Attachment is not { } att)
        {
            throw DmpException.Invalid("a simplified publish carries exactly one content with its attachment", "DocumentReference.content");
        }

        var bytes = att.Data ?? throw DmpException.Invalid("attachment.data (the document, base64) is required: ITI-105 carries the document inline", "DocumentReference.content[0].attachment.data");
        if (bytes.LongLength > options.MaxContentBytes)
        {
            throw new DmpException(ErrorKind.TooLarge, $"the document is {bytes.LongLength} bytes; the limit is {options.MaxContentBytes} bytes", "DocumentReference.content[0].attachment.data");
        }

        // The header is read once (the content is parsed again, within the same limits, by ITI-65's content check).
        var header = att.ContentType is null || CdaMediaTypes.Contains(att.ContentType) ? CdaHeader.TryRead(bytes) : null;
        att.ContentType ??= header is not null ? "text/xml" : throw DmpException.Invalid("attachment.contentType is required", "DocumentReference.content[0].attachment.contentType");
        if (header is not null)
        {
            CdaMetadata.Complete(doc, header, await terminology.GetAsync(ct));
            await CheckPatientAsync(doc, header, ct);
        }

        if (FhirJson.SizeOf(att) is null)
        {
            att.Size = bytes.LongLength;
        }

#pragma warning disable CA5350 // FHIR R4 Attachment.hash is SHA-1 (an integrity check here).
        att.Hash ??= SHA1.HashData(bytes);
#pragma warning restore CA5350
        var response = await provide.HandleAsync(Wrap(doc), actor, channel, ct);
        var location = response.Entry.Select(e => e.Response?.Location).First(l => l is not null && l.StartsWith("DocumentReference/", StringComparison.Ordinal))!;
        var id = location.Split('/')[1];
        var json = await db.Documents.AsNoTracking().Where(d => d.Id == id).Select(d => d.ResourceJson).FirstAsync(ct);
        return (id, json);
    }

    /// <summary>The one-document ITI-65 transaction the publication amounts to.</summary>
    private static Bundle Wrap(DocumentReference doc)
    {
        var docUrl = "urn:uuid:" + Guid.NewGuid();
        var list = new List
        {
            Status = List.ListStatus.Current,
            Mode = ListMode.Working,
            Code = new CodeableConcept("https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "submissionset"),
            Subject = doc.Subject is null ? null : new ResourceReference(doc.Subject.Reference) { Identifier = doc.Subject.Identifier },
            Date = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture),
            Identifier = [new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()) { Use = Identifier.IdentifierUse.Usual }],
            Entry = [new List.EntryComponent { Item = new ResourceReference(docUrl) }],
        };
        list.Extension.Add(new Extension(SourceIdExtension, new Identifier("urn:ietf:rfc:3986", "urn:opendmp:iti-105")));
        return new Bundle
        {
            Type = Bundle.BundleType.Transaction,
            Entry =
            [
                new Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = list, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "List" } },
                new Bundle.EntryComponent { FullUrl = docUrl, Resource = doc, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "DocumentReference" } },
            ],
        };
    }

    /// <summary>
    /// The header's patient: a valid INS (check key) naming a registered patient whose strict traits
    /// (birth name, first given name, birth date, sex) are the header's; the DocumentReference's subject,
    /// when given, is the same patient. Mismatches name the header element, never the registered value.
    /// </summary>
    private async System.Threading.Tasks.Task CheckPatientAsync(DocumentReference doc, CdaHeader h, CancellationToken ct)
    {
        const string IdAt = "recordTarget/patientRole/id";
        if (CdaMetadata.Ins(h) is not { } ins)
        {
            throw DmpException.Invalid($"{IdAt}: the patient's INS (root 1.2.250.1.213.1.4.8, .9, .10 or .11) is required", IdAt);
        }

        if (OpenDmp.Core.Identity.Ins.KindOf(ins.System) is not null && OpenDmp.Core.Identity.Ins.Validate(ins.Value) is { } problem)
        {
            throw DmpException.Invalid($"{IdAt}: the INS {ins.Value} is not valid ({problem})", IdAt);
        }

        var value = OpenDmp.Core.Identity.Ins.Normalize(ins.Value);
        var recordId = await db.PatientIdentifiers.AsNoTracking().Where(p => p.System == ins.System && p.Value == value).Select(p => p.RecordId).FirstOrDefaultAsync(ct)
            ?? throw DmpException.Invalid($"{IdAt}: no patient of OpenDMP has the INS {ins.System}|{value}", IdAt);
        var subjectRecord = await References.ResolvePatientAsync(db, doc.Subject, ct);
        if (subjectRecord != recordId)
        {
            throw DmpException.Invalid("DocumentReference.subject and the CDA's recordTarget designate different patients", IdAt);
        }

        var patient = await db.Patients.AsNoTracking().FirstAsync(p => p.RecordId == recordId, ct);
        const string NameAt = "recordTarget/patientRole/patient/name";
        if (h.PatientBirthFamily is null || !SameName(h.PatientBirthFamily, patient.Family))
        {
            throw DmpException.Invalid($"{NameAt}/family: the birth name differs from the identity registered under this INS", NameAt + "/family");
        }

        if (h.PatientFirstGiven is null || !SameName(h.PatientFirstGiven, patient.Given.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty))
        {
            throw DmpException.Invalid($"{NameAt}/given: the first given name differs from the identity registered under this INS", NameAt + "/given");
        }

        if (Hl7Time.ToFhir(h.PatientBirthTime) is not { Length: >= 10 } birth || birth[..10] != patient.BirthDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))
        {
            throw DmpException.Invalid("recordTarget/patientRole/patient/birthTime: the birth date differs from the identity registered under this INS", "recordTarget/patientRole/patient/birthTime");
        }

        if (patient.Sex is "M" or "F" && h.PatientSex is { } sex && sex != patient.Sex)
        {
            throw DmpException.Invalid("recordTarget/patientRole/patient/administrativeGenderCode: the sex differs from the identity registered under this INS", "recordTarget/patientRole/patient/administrativeGenderCode");
        }
    }

    private static bool SameName(string a, string b) => string.Equals(Fold(a), Fold(b), StringComparison.Ordinal);

    /// <summary>Names compared as the INS referential writes them: upper case, without accents, hyphens and apostrophes as spaces.</summary>
    private static string Fold(string s)
    {
        var d = s.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(d.Length);
        foreach (var c in d)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }

            sb.Append(c is '-' or '\'' or '’' ? ' ' : char.ToUpperInvariant(c));
        }

        return string.Join(' ', sb.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }
}
