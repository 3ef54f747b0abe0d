using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Import;

/// <summary>The FHIR import files documents with the same mapping as ITI-65 (visibility statuses, drafts, content checks) and adds nothing when run again.</summary>
public abstract class ImportHardeningTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private async Task<(int Code, string Out)> ImportAsync(Bundle bundle)
    {
        var file = Path.Combine(Server.Data.Root, Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(file, FhirJson.Serialize(bundle));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync(["import", "fhir", file, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private static DocumentReference Doc(string patientFullUrl, string title, string? visibility = null, bool draft = false)
    {
        var bytes = Encoding.UTF8.GetBytes("texte " + title);
        var d = new DocumentReference
        {
            Status = DocumentReferenceStatus.Current,
            MasterIdentifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()),
            Type = new CodeableConcept(Terminology.Loinc, "11488-4", "Compte rendu"),
            Category = [new CodeableConcept(Terminology.ClassSystem, "10", "Compte rendu")],
            Subject = new ResourceReference(patientFullUrl),
            Date = DateTimeOffset.UtcNow,
            Description = title,
            DocStatus = draft ? CompositionStatus.Preliminary : null,
            Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { ContentType = "text/plain", Data = bytes, Title = title } }],
        };
        if (visibility is not null)
        {
            d.SecurityLabel.Add(new CodeableConcept(Terminology.VisibilitySystem, visibility));
        }

        return d;
    }

    private static Bundle World(string ins)
    {
        string U() => "urn:uuid:" + Guid.NewGuid();
        var p1 = U();
        var patient = new Patient { Identifier = [new Identifier(OpenDmp.Core.Identity.Ins.NirSystem, ins)], Name = [new HumanName { Family = "IMPORTEE", Given = ["Anne"] }], BirthDate = "1970-05-17", Gender = AdministrativeGender.Female };
        var observation = new Observation
        {
            Id = "obs-1",
            Status = ObservationStatus.Final,
            Code = new CodeableConcept("http://loinc.org", "2345-7", "Glucose"),
            Subject = new ResourceReference(p1),
            Effective = new FhirDateTime(2026, 11, 1),
            Value = new Quantity(5.4m, "mmol/L"),
        };
        var unnamed = new Observation
        {
            Status = ObservationStatus.Final,
            Code = new CodeableConcept("http://loinc.org", "718-7", "Hemoglobin"),
            Subject = new ResourceReference(p1),
            Effective = new FhirDateTime(2026, 11, 2),
            Value = new Quantity(13.1m, "g/dL"),
        };
        var b = new Bundle { Type = Bundle.BundleType.Collection };
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = p1, Resource = patient });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = Doc(p1, "Visible") });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = Doc(p1, "Annonce", "INVISIBLE_PATIENT") });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = Doc(p1, "Brouillon", draft: true) });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = Doc(p1, "Masque", "MASQUE_PS") });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = observation });
        b.Entry.Add(new Bundle.EntryComponent { FullUrl = U(), Resource = unnamed });
        return b;
    }

    /// <summary>Regression: the import ignored MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX and drafts: an imported hidden document was shown to the patient.</summary>
    [Fact]
    public async Task ImportedDocuments_KeepTheirVisibility()
    {
        var ins = TestIds.NewIns();
        var (code, output) = await ImportAsync(World(ins));
        Assert.True(code == 0, output);
        var recordId = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().PatientIdentifiers.Where(i => i.Value == ins).Select(i => i.RecordId).SingleAsync());
        var docs = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.AsNoTracking().Where(d => d.RecordId == recordId).ToListAsync());
        Assert.True(docs.Single(d => d.Title == "Annonce").HiddenFromPatient);
        Assert.True(docs.Single(d => d.Title == "Brouillon").Draft);
        Assert.True(docs.Single(d => d.Title == "Masque").Masked);

        var (patientHttp, _) = await Server.LoginPatientAsync(new TestPatient(recordId, ins, OpenDmp.Core.Identity.Ins.NirSystem));
        var seen = (await FhirAssert.BundleAsync(await patientHttp.GetAsync($"/fhir/DocumentReference?patient={recordId}"))).Entry.Select(e => ((DocumentReference)e.Resource).Description).ToList();
        Assert.Contains("Visible", seen);
        Assert.Contains("Masque", seen);
        Assert.DoesNotContain("Annonce", seen);
        Assert.DoesNotContain("Brouillon", seen);
    }

    /// <summary>Regression: importing a bundle again doubled its Observations.</summary>
    [Fact]
    public async Task ImportingTwice_AddsNothing()
    {
        var ins = TestIds.NewIns();
        var world = World(ins);
        Assert.Equal(0, (await ImportAsync(world)).Code);
        Task<(int, int)> CountAsync() => Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            return (await db.Documents.CountAsync(), await db.Observations.CountAsync());
        });
        var before = await CountAsync();
        Assert.Equal((4, 2), before);
        var (code, output) = await ImportAsync(world);
        Assert.True(code == 0, output);
        Assert.Contains("0 documents, 0 observations", output, StringComparison.Ordinal);
        Assert.Equal(before, await CountAsync());
    }

    [Fact]
    public async Task ImportedXmlContent_IsCheckedLikeItsSubmission()
    {
        var world = World(TestIds.NewIns());
        var doc = (DocumentReference)world.Entry[1].Resource;
        doc.Content[0].Attachment.ContentType = "text/xml";
        doc.Content[0].Attachment.Data = Hostile.DeepCda(5_000);
        var (code, output) = await ImportAsync(world);
        Assert.Equal(2, code);
        Assert.Contains("nests deeper than 256", output, StringComparison.Ordinal);
        Assert.Equal(0, await Server.CountDocumentsAsync());
    }
}

public sealed class ImportHardeningTests_Sqlite() : ImportHardeningTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ImportHardeningTests_Postgres(PostgresCluster pg) : ImportHardeningTests(new PostgresStorage(pg, "importhardening"));
