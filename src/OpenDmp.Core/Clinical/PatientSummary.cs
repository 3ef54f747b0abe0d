using System.Globalization;
using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>A stay with its main diagnosis.</summary>
public sealed record StayItem(ClinicalEntry Stay, ClinicalEntry? MainDiagnosis);

/// <summary>
/// The synthesis of a record as this reader may see it. A section is null when the reader may not
/// see its kind of content at all (absent from the summary), empty when there is nothing to show.
/// </summary>
public sealed record SummaryData(
    string RecordId,
    Hl7.Fhir.Model.Patient Patient,
    IReadOnlyList<ClinicalEntry>? Problems,
    IReadOnlyList<MedicationItem>? Medications,
    IReadOnlyList<PersonalItem> DeclaredAllergies,
    IReadOnlyList<ObservationEntry>? Results,
    IReadOnlyList<StayItem>? Stays,
    IReadOnlyList<ClinicalEntry>? Procedures,
    IReadOnlyList<PersonalItem> DeclaredSurgeries,
    IReadOnlyList<ClinicalEntry>? Vaccinations,
    DateTimeOffset At)
{
    /// <summary>The reimbursed care of the last twelve months (null when the reader may not see reimbursement data).</summary>
    public IReadOnlyList<ClinicalEntry>? Reimbursements { get; init; }

    /// <summary>Allergies professionals recorded (in the documents this reader may see).</summary>
    public IReadOnlyList<ClinicalEntry> RecordedAllergies { get; init; } = [];
}

/// <summary>
/// The patient summary (issue 14), assembled on the fly under one decision of the access policy
/// (one audited access): <c>GET /fhir/Patient/[id]/$summary</c> returns it as an International
/// Patient Summary-shaped document Bundle; the professional portal's synthesis page shows the same
/// data. What the reader may not see is absent, never hinted at.
/// </summary>
public sealed class PatientSummary(DmpDbContext db, RecordGuard guard, MedicationQueries medications, ObservationQueries observations, PersonalSpaceService personal)
{
    public const int MaxProblems = 50;
    public const int MaxResults = 20;
    public const int MaxStays = 5;
    public const int MaxProcedures = 30;
    public const int MaxVaccinations = 50;

    /// <summary>How each kind of content is seen by the matrix: a discharge letter (stays, diagnoses, acts), a vaccination note, prescriptions and dispensings.</summary>
    private static readonly DocumentFacts StayLetter = new("section", null, null, "10", "11490-0");
    private static readonly DocumentFacts VaccinationNote = new("section", null, null, "52", "87273-9");
    private static readonly DocumentFacts Prescription = new("section", null, null, "42", "57833-6");
    private static readonly DocumentFacts Dispensing = new("section", null, null, "43", "60593-1");
    private static readonly DocumentFacts Reimbursement = new("section", null, null, "60", "REMB");

    public async Task<SummaryData> BuildAsync(string patientId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(patientId, actor, AuditAction.Read, "Composition", channel, ct);
        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Read, "Composition", "summary", channel, auditPermit: true, ct);
        var recordId = facts.RecordId;
        var scope = decision.Scope;
        var patientRow = await db.Patients.AsNoTracking().FirstAsync(x => x.RecordId == recordId, ct);
        var record = await db.Records.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == recordId, ct);

        var seesStays = scope.Admits(StayLetter);
        IReadOnlyList<ClinicalEntry>? problems = null;
        IReadOnlyList<ClinicalEntry>? procedures = null;
        IReadOnlyList<StayItem>? stays = null;
        if (seesStays)
        {
            var entries = await ClinicalQueries.Visible(db, recordId, null, decision)
                .Where(x => x.ResourceType == "Condition" || x.ResourceType == "Procedure" || x.ResourceType == "Encounter")
                .OrderByDescending(x => x.Date).ThenBy(x => x.Id)
                .ToListAsync(ct);
            problems = entries.Where(e => e.ResourceType == "Condition").DistinctBy(e => (e.CodeSystem, e.Code)).Take(MaxProblems).ToList();
            procedures = entries.Where(e => e.ResourceType == "Procedure").Take(MaxProcedures).ToList();
            var conditions = entries.Where(e => e.ResourceType == "Condition").ToDictionary(e => e.Id, StringComparer.Ordinal);
            stays = entries.Where(e => e.ResourceType == "Encounter").Take(MaxStays)
                .Select(s => new StayItem(s, Stays.MainDiagnosisId(FhirJson.Parse<Encounter>(s.ResourceJson)) is { } main ? conditions.GetValueOrDefault(main) : null))
                .ToList();
        }

        IReadOnlyList<ClinicalEntry>? vaccinations = scope.Admits(VaccinationNote) || seesStays
            ? await ClinicalQueries.Visible(db, recordId, "Immunization", decision).OrderByDescending(x => x.Date).ThenBy(x => x.Id).Take(MaxVaccinations).ToListAsync(ct)
            : null;
        IReadOnlyList<MedicationItem>? meds = scope.Admits(Prescription) || scope.Admits(Dispensing)
            ? await medications.MedicationsAsync(recordId, decision, ct)
            : null;
        IReadOnlyList<ObservationEntry>? results = decision.Admits(ResultIntake.BiologyResult)
            ? await observations.LatestAsync(recordId, decision, MaxResults, ct)
            : null;
        var declared = await personal.ItemsAsync(recordId, decision, ct);
        IReadOnlyList<ClinicalEntry>? reimbursements = scope.Admits(Reimbursement)
            ? await ClinicalQueries.Visible(db, recordId, "ExplanationOfBenefit", decision).OrderByDescending(x => x.Date).ThenBy(x => x.Id).Take(100).ToListAsync(ct)
            : null;
        var allergies = await ClinicalQueries.Visible(db, recordId, "AllergyIntolerance", decision).OrderByDescending(x => x.Date).ThenBy(x => x.Id).Take(MaxProblems).ToListAsync(ct);
        return new SummaryData(
            recordId,
            Mappers.ToFhir(patientRow, record),
            problems,
            meds,
            declared.Where(d => d.Category == "allergy").ToList(),
            results,
            stays,
            procedures,
            declared.Where(d => d.Category == "surgery").ToList(),
            vaccinations,
            guard.Now)
        {
            Reimbursements = reimbursements,
            RecordedAllergies = allergies,
        };
    }

    /// <summary>The summary as an IPS-shaped FHIR document: a Composition and the resources its sections reference.</summary>
    public static Bundle ToBundle(SummaryData s, string baseUrl)
    {
        var bundle = new Bundle
        {
            Type = Bundle.BundleType.Document,
            Identifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()),
            Timestamp = s.At,
        };
        var patientUrl = $"{baseUrl}/Patient/{s.RecordId}";
        var composition = new Composition
        {
            Id = Guid.NewGuid().ToString(),
            Status = CompositionStatus.Final,
            Type = new CodeableConcept("http://loinc.org", "60591-5", "Patient summary Document"),
            Subject = new ResourceReference(patientUrl),
            Date = s.At.ToString("o", CultureInfo.InvariantCulture),
            Author = [new ResourceReference { Display = "OpenDMP" }],
            Title = "Synthèse médicale du dossier médical partagé",
            Language = "fr-FR",
        };
        bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = "urn:uuid:" + composition.Id, Resource = composition });
        bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = patientUrl, Resource = s.Patient });

        string Add(Resource r, string? url = null)
        {
            url ??= r.Id is { } id ? $"{baseUrl}/{r.TypeName}/{id}" : "urn:uuid:" + Guid.NewGuid();
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = url, Resource = r });
            return url;
        }

        void Section(string code, string display, string title, IEnumerable<(Resource Resource, string Line)> items, bool stored = true)
        {
            var list = items.ToList();
            var section = new Composition.SectionComponent { Title = title, Code = new CodeableConcept("http://loinc.org", code, display) };
            if (list.Count == 0)
            {
                section.EmptyReason = new CodeableConcept("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable", "Unavailable");
                section.Text = Xhtml(["Aucune information disponible"]);
            }
            else
            {
                foreach (var (resource, _) in list)
                {
                    section.Entry.Add(new ResourceReference(stored ? Add(resource) : Add(resource, "urn:uuid:" + Guid.NewGuid())));
                }

                section.Text = Xhtml(list.Select(i => i.Line));
            }

            composition.Section.Add(section);
        }

        var problems = s.Problems?.Select(p => ((Resource)FhirJson.Parse<Condition>(p.ResourceJson), Line(p.CodeDisplay ?? p.Code, p.Date))).ToList();
        if (problems is not null)
        {
            Section("11450-4", "Problem list - Reported", "Problèmes et antécédents", problems);
        }

        if (s.Medications is { } meds)
        {
            Section("10160-0", "History of Medication use Narrative", "Traitements", meds.Select(m => ((Resource)m.ToStatement(s.RecordId, s.At), Line(m.Display ?? m.Code, m.Last) + (m.Active ? " (en cours)" : string.Empty))), stored: false);
        }

        // Recorded by professionals (stored resources) and declared by the patient (marked, unconfirmed).
        var allergySection = new Composition.SectionComponent { Title = "Allergies et intolérances", Code = new CodeableConcept("http://loinc.org", "48765-2", "Allergies and adverse reactions Document") };
        var allergyLines = new List<string>();
        foreach (var a in s.RecordedAllergies)
        {
            allergySection.Entry.Add(new ResourceReference(Add(FhirJson.Parse<AllergyIntolerance>(a.ResourceJson))));
            allergyLines.Add(Line(a.CodeDisplay ?? a.Code, a.Date));
        }

        foreach (var a in s.DeclaredAllergies)
        {
            allergySection.Entry.Add(new ResourceReference(Add(DeclaredAllergy(a, s.RecordId), "urn:uuid:" + Guid.NewGuid())));
            allergyLines.Add((a.Fields.GetValueOrDefault("substance") ?? "?") + " — déclarée par le patient");
        }

        if (allergyLines.Count == 0)
        {
            allergySection.EmptyReason = new CodeableConcept("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable", "Unavailable");
            allergyLines.Add("Aucune information disponible");
        }

        allergySection.Text = Xhtml(allergyLines);
        composition.Section.Add(allergySection);
        if (s.Results is { } results)
        {
            Section("30954-2", "Relevant diagnostic tests/laboratory data Narrative", "Derniers résultats", results.Select(r => ((Resource)FhirJson.Parse<Observation>(r.ResourceJson), Line($"{r.CodeDisplay ?? r.Code} : {Value(r)}", r.Effective))));
        }

        if (s.Stays is { } stays)
        {
            var lines = new List<(Resource, string)>();
            foreach (var stay in stays)
            {
                lines.Add((FhirJson.Parse<Encounter>(stay.Stay.ResourceJson), Line($"{stay.Stay.CodeDisplay ?? "Séjour"} — {stay.MainDiagnosis?.CodeDisplay ?? stay.MainDiagnosis?.Code ?? "diagnostic principal non renseigné"}", stay.Stay.Date)));
            }

            Section("46240-8", "History of Hospitalizations+Outpatient visits Narrative", "Derniers séjours", lines);
        }

        if (s.Procedures is { } procedures)
        {
            Section("47519-4", "History of Procedures Document", "Actes", procedures.Select(p => ((Resource)FhirJson.Parse<Procedure>(p.ResourceJson), Line(p.CodeDisplay ?? p.Code, p.Date))));
        }

        if (s.DeclaredSurgeries.Count > 0)
        {
            Section("11348-0", "History of Past illness Narrative", "Antécédents déclarés par le patient", s.DeclaredSurgeries.Select(d => ((Resource)DeclaredSurgery(d, s.RecordId), (d.Fields.GetValueOrDefault("procedure") ?? "?") + " — déclaré par le patient")), stored: false);
        }

        if (s.Vaccinations is { } vaccinations)
        {
            Section("11369-6", "History of Immunization Narrative", "Vaccinations", vaccinations.Select(v => ((Resource)FhirJson.Parse<Immunization>(v.ResourceJson), Line(v.CodeDisplay ?? v.Code, v.Date))));
        }

        return bundle;
    }

    /// <summary>A patient-declared allergy, marked as such: the patient asserts it, no professional confirmed it.</summary>
    private static AllergyIntolerance DeclaredAllergy(PersonalItem a, string recordId)
    {
        var allergy = new AllergyIntolerance
        {
            Id = a.Id,
            Patient = new ResourceReference("Patient/" + recordId),
            Asserter = new ResourceReference("Patient/" + recordId),
            VerificationStatus = new CodeableConcept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", "Unconfirmed"),
            Code = new CodeableConcept { Text = a.Fields.GetValueOrDefault("substance") },
            RecordedDate = a.UpdatedAt.ToString("o", CultureInfo.InvariantCulture),
            Note = [new Annotation { Text = new Markdown("Déclarée par le patient dans son espace personnel") }],
        };
        if (a.Fields.GetValueOrDefault("reaction") is { Length: > 0 } reaction)
        {
            allergy.Reaction.Add(new AllergyIntolerance.ReactionComponent { Manifestation = [new CodeableConcept { Text = reaction }] });
        }

        return allergy;
    }

    /// <summary>A surgery the patient declared: a Procedure asserted by the patient.</summary>
    private static Procedure DeclaredSurgery(PersonalItem d, string recordId) => new()
    {
        Id = d.Id,
        Status = EventStatus.Completed,
        Subject = new ResourceReference("Patient/" + recordId),
        Asserter = new ResourceReference("Patient/" + recordId),
        Code = new CodeableConcept { Text = d.Fields.GetValueOrDefault("procedure") },
        Performed = d.Fields.GetValueOrDefault("date") is { Length: > 0 } date ? new FhirString(date) : null,
        Note = [new Annotation { Text = new Markdown("Déclaré par le patient dans son espace personnel") }],
    };

    private static string Value(ObservationEntry r) =>
        r.ValueNumber is { } v ? v.ToString("0.###", CultureInfo.InvariantCulture) + (r.Unit is null ? string.Empty : " " + r.Unit) : r.ValueText ?? string.Empty;

    private static string Line(string? what, DateTimeOffset? when) =>
        (when is { } d ? d.ToString("dd/MM/yyyy", CultureInfo.InvariantCulture) + " — " : string.Empty) + (what ?? string.Empty);

    private static Narrative Xhtml(IEnumerable<string> lines)
    {
        var html = new StringBuilder("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>");
        foreach (var line in lines)
        {
            html.Append("<li>").Append(WebUtility.HtmlEncode(line)).Append("</li>");
        }

        return new Narrative { Status = Hl7.Fhir.Model.Narrative.NarrativeStatus.Generated, Div = html.Append("</ul></div>").ToString() };
    }
}
