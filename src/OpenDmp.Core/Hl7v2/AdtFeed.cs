using System.Globalization;
using System.Text;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Core.Hl7v2;

/// <summary>The outcome of an ADT message: the HL7 acknowledgement code (AA, AE, AR) and what it says.</summary>
public sealed record AdtOutcome(string Code, string Text, string? AdmissionId = null);

/// <summary>
/// A hospital's ADT feed (IHE PAM, HL7 v2.5 as used in France) mapped to $declare-admission:
/// an admission (A01) or a registration (A04, e.g. an emergency department visit) of a patient
/// identified by their INS in PID-3 declares the admission in the name of the sending
/// professional's establishment, with the care setting from PV1-2 (E emergency → EMER, which alerts
/// the treating physician; I inpatient → IMP; O outpatient, R recurring → AMB). Other events are
/// acknowledged and not used. The declaration goes through the policy and the audit trail as the
/// FHIR operation does.
/// </summary>
public sealed class AdtFeed(RecordService records, ConsentService consents, RecordGuard guard, TimeProvider time)
{
    private static readonly Dictionary<string, string> InsOids = new(StringComparer.Ordinal)
    {
        ["1.2.250.1.213.1.4.8"] = Identity.Ins.NirSystem,
        ["1.2.250.1.213.1.4.9"] = Identity.Ins.NiaSystem,
        ["1.2.250.1.213.1.4.10"] = Identity.Ins.TestSystem,
        ["1.2.250.1.213.1.4.11"] = Identity.Ins.DemoSystem,
    };

    public async Task<AdtOutcome> HandleAsync(Er7Message message, Actor actor, string channel, CancellationToken ct)
    {
        var msh = message.Segment("MSH")!;
        var type = Er7Message.Field(msh, 9);
        if (message.Component(type, 1) != "ADT")
        {
            return new AdtOutcome("AR", $"only ADT messages are accepted here, got '{message.Component(type, 1)}'");
        }

        var trigger = message.Component(type, 2);
        if (trigger is not ("A01" or "A04"))
        {
            return new AdtOutcome("AA", $"event {trigger} acknowledged, not used (admissions are declared from A01 and A04)");
        }

        var pid = message.Segment("PID") ?? throw DmpException.Invalid("an ADT message needs a PID segment");
        var (system, ins) = InsOf(message, Er7Message.Field(pid, 3))
            ?? throw DmpException.Invalid("PID-3 holds no INS (assigning authority 1.2.250.1.213.1.4.8, .9, .10 or .11)");
        var pv1 = message.Segment("PV1") ?? throw DmpException.Invalid("an ADT message needs a PV1 segment");
        var patientClass = message.Component(Er7Message.Field(pv1, 2), 1);
        var setting = patientClass switch
        {
            "E" => "EMER",
            "I" => "IMP",
            "O" or "R" => "AMB",
            _ => throw DmpException.Invalid($"PV1-2 patient class '{patientClass}' is not one of E (emergency), I (inpatient), O (outpatient), R (recurring)"),
        };
        // The identity lookup is a patient search by INS (decided and audited as PDQm's is).
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.FindPatient), Audit.AuditAction.Search, "Patient", null, channel, auditPermit: false, ct, "you are not authorised to search patients");
        var patient = await records.FindByInsAsync(ins, ct, system);
        await guard.AuditAsync(new Audit.AuditItem(null, actor, Audit.AuditAction.Search, "success", channel, "Patient", null, permit.Mode, $"by=identifier hits={(patient is null ? 0 : 1)} (ADT {trigger})"), ct);
        if (patient is null)
        {
            throw DmpException.NotFound("no record for the INS of PID-3");
        }

        var grant = await consents.DeclareAdmissionAsync(patient.RecordId, null, [], actor, channel, ct, setting);
        return new AdtOutcome("AA", $"admission declared ({setting})", grant.Id);
    }

    /// <summary>The HL7 v2.5 acknowledgement of a message (or of what could be read of it).</summary>
    public string Acknowledge(Er7Message? message, AdtOutcome outcome)
    {
        var msh = message?.Segment("MSH");
        var now = Reminders.Recurrence.ToLocal(time.GetUtcNow()).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var trigger = msh is null ? string.Empty : message!.Component(Er7Message.Field(msh, 9), 2);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"MSH|^~\\&|OpenDMP|OpenDMP|{Clean(Er7Message.Field(msh, 3))}|{Clean(Er7Message.Field(msh, 4))}|{now}||ACK^{Clean(trigger)}^ACK|{Ids.New()}|P|2.5\r");
        sb.Append(CultureInfo.InvariantCulture, $"MSA|{outcome.Code}|{Clean(Er7Message.Field(msh, 10))}|{Clean(outcome.Text)}\r");
        if (outcome.Code != "AA")
        {
            sb.Append(CultureInfo.InvariantCulture, $"ERR||||E|||{Clean(outcome.Text)}\r");
        }

        return sb.ToString();
    }

    private static (string System, string Value)? InsOf(Er7Message message, string pid3)
    {
        foreach (var id in message.Repetitions(pid3))
        {
            var value = message.Component(id, 1);
            var authority = message.Component(id, 4);
            var oid = message.Subcomponent(authority, 2);
            if (value.Length > 0 && InsOids.TryGetValue(oid, out var system))
            {
                return (system, value);
            }
        }

        return null;
    }

    /// <summary>A value written into the acknowledgement: no delimiter, one line, bounded.</summary>
    private static string Clean(string value)
    {
        var v = new string([.. value.Where(c => c is not ('|' or '^' or '~' or '\\' or '&') && !char.IsControl(c))]);
        return v.Length > 200 ? v[..200] : v;
    }
}
