using System.Globalization;
using Hl7.Fhir.Model;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using NewPatient = OpenDmp.Core.Records.NewPatient;
using OpeningChannel = OpenDmp.Core.Records.OpeningChannel;
using OpenDmp.Server.Patients;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// <c>POST /fhir/Patient/$open-record</c>: a professional (at their office or pharmacy, at a hospital
/// desk, at a counter) opens a patient's record with the patient's express consent after the
/// information notice; the patient is registered if needed; the answer carries the account's
/// activation code when it is to be printed.
/// </summary>
public static class OpeningEndpoints
{
    public static RouteGroupBuilder MapOpening(this RouteGroupBuilder fhir)
    {
        fhir.MapPost("/Patient/$open-record", async (HttpContext ctx, RecordOpeningService openings, DocumentOptions o) =>
        {
            var p = await ConsentEndpoints.ParametersAsync(ctx, o);
            var result = await openings.OpenAsync(Command(p), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var answer = new Parameters();
            answer.Add("patient", new ResourceReference("Patient/" + result.Patient.RecordId));
            answer.Add("registered", new FhirBoolean(result.Registered));
            answer.Add("opened", new FhirDateTime(result.Opening.OpenedAt));
            answer.Add("information-notice", new FhirString(result.Opening.NoticeVersion));
            answer.Add("activation-delivery", new Code(result.Delivery));
            if (result.ActivationCode is { } code)
            {
                answer.Add("activation-code", new FhirString(code));
            }

            if (result.Warning is { } warning)
            {
                answer.Add("warning", new FhirString(warning));
            }

            return FhirResults.Resource(answer, 201);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Open));
        return fhir;
    }

    private static OpenRecordCommand Command(Parameters p)
    {
        var channel = ConsentEndpoints.Str(p, "channel") switch
        {
            null or "office" => OpeningChannel.Office,
            "hospital" => OpeningChannel.Hospital,
            "counter" => OpeningChannel.Counter,
            var other => throw DmpException.Invalid($"channel is office, hospital or counter, got '{other}'", "Parameters.parameter:channel"),
        };
        var resource = p.Parameter.FirstOrDefault(x => x.Name == "patient")?.Resource;
        if (resource is not null and not Patient)
        {
            throw DmpException.Invalid($"parameter patient must be a Patient resource, got {resource.TypeName}", "Parameters.parameter:patient");
        }

        return new OpenRecordCommand(
            resource is Patient patient ? Identity(patient, ConsentEndpoints.Str(p, "birth-place")) : null,
            ConsentEndpoints.Str(p, "patient-id"),
            ConsentEndpoints.Bool(p, "consent") ?? false,
            ConsentEndpoints.Str(p, "information-notice"),
            channel,
            ConsentEndpoints.Str(p, "treating-physician"),
            ConsentEndpoints.Bool(p, "oppose-break-glass") ?? false,
            ConsentEndpoints.Bool(p, "oppose-centre-15") ?? false,
            ConsentEndpoints.Str(p, "activation-delivery") ?? ActivationDelivery.Print,
            ConsentEndpoints.Str(p, "email"),
            ConsentEndpoints.Str(p, "phone"),
            ConsentEndpoints.Str(p, "language") ?? "fr");
    }

    /// <summary>The strict identity traits of a FHIR Patient: its INS, birth name, given names, birth date and sex.</summary>
    private static NewPatient Identity(Patient p, string? birthPlace)
    {
        var ins = p.Identifier.FirstOrDefault(i => Ins.KindOf(i.System) is { } k && k != InsKind.Local)
            ?? throw DmpException.Invalid($"the patient's INS is required (identifier with system INS-NIR {Ins.NirSystem}, INS-NIA {Ins.NiaSystem}, test {Ins.TestSystem} or demo {Ins.DemoSystem})", "Patient.identifier");
        var name = p.Name.FirstOrDefault(n => n.Use == HumanName.NameUse.Official) ?? p.Name.FirstOrDefault()
            ?? throw DmpException.Invalid("the patient's birth name and given names are required", "Patient.name");
        if (!DateOnly.TryParseExact(p.BirthDate, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var birth))
        {
            throw DmpException.Invalid($"the birth date is required as YYYY-MM-DD, got '{p.BirthDate}'", "Patient.birthDate");
        }

        var sex = p.Gender switch
        {
            AdministrativeGender.Male => "M",
            AdministrativeGender.Female => "F",
            AdministrativeGender.Other or AdministrativeGender.Unknown => "U",
            _ => throw DmpException.Invalid("the patient's sex (gender) is required", "Patient.gender"),
        };
        return new NewPatient(ins.Value ?? string.Empty, ins.System ?? string.Empty, name.Family ?? string.Empty, string.Join(' ', name.Given), birth, sex, birthPlace, Evidence: Evidence(p));
    }

    /// <summary>
    /// What the sender states of the identity (fr-core identityReliability): a record is opened only
    /// for a qualified identity; the document and date it names are kept. Stating nothing is sending
    /// the INS, which the RNIV allows only for a qualified identity.
    /// </summary>
    private static IdentityEvidence? Evidence(Patient p)
    {
        if (IdentityVigilance.StatedBy(p) is not { } stated)
        {
            return null;
        }

        IdentityVigilance.RequireQualified(stated, "open a record");
        var ext = p.GetExtension(IdentityVigilance.ReliabilityExtension)!;
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var document = (ext.GetExtension("validationMode")?.Value as Coding)?.Code;
        var checkedOn = ext.GetExtension("validationDate")?.Value is Date d && DateOnly.TryParseExact(d.Value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var on) ? on : (DateOnly?)null;
        return document is null ? IdentityEvidence.AttestedQualified(today) : new IdentityEvidence(today, document, checkedOn ?? today);
    }
}
