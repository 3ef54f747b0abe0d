using System.Net;
using OpenDmp.Client;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Client;

/// <summary>
/// The OpenDmp.Client library (issue 17) against the real server over mutual TLS: a GP's whole
/// workflow with their own card — find the patient, read the authorisation status, declare access,
/// feed a PDF and a CDA (metadata from its header), search, retrieve byte-exact, mask and unmask,
/// read the trail — and the same professional through a structure's software with a VIHF per request;
/// refusals surface as DmpClientException with OpenDMP's explanation.
/// </summary>
public abstract class ClientTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    /// <summary>The example patient of the ANS CDA documents (test INS).</summary>
    private static readonly NewPatient Dominique = Documents.CdaCorpusTests.Dominique;

    private DmpClient Client(System.Security.Cryptography.X509Certificates.X509Certificate2 card, VihfIssuer? vihf = null) =>
        new(new Uri(Server.BaseUrl), card, vihf, (cert, _, _) => cert is not null && cert.Issuer == Server.Ca.Certificate.Subject);

    [Fact]
    public async Task AGp_WorksWithTheRecord_FromTheirSoftware_WithTheirCard_AndThroughTheirStructure()
    {
        var treating = await Server.AddProfessionalAsync("10", "SM54", "Traitant", "Anne");
        var patient = await Server.AddPatientAsync(Dominique, treating);
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Remplaçant", "Louis");
        using var dmp = Client(gp.Certificate);

        // Find the patient; no authorisation yet; reading is refused with the reason.
        var found = await dmp.FindPatientAsync(Dominique.Ins, system: Ins.TestSystem);
        Assert.Equal(patient.Id, found?.Id);
        Assert.False((await dmp.GetAccessStatusAsync(patient.Id)).IsValid);
        var refused = await Assert.ThrowsAsync<DmpClientException>(() => dmp.SearchAsync(patient.Id));
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Contains("$declare-access", refused.Message, StringComparison.Ordinal);

        // With the patient's consent: declared, then valid.
        await dmp.DeclareAccessAsync(patient.Id);
        var status = await dmp.GetAccessStatusAsync(patient.Id);
        Assert.Equal(("valid", "alleged"), (status.Status, status.Mode));

        // Feed a PDF with its metadata and a CDA whose metadata come from its header.
        var pdf = SubmissionBuilder.MinimalPdf("Compte rendu de consultation");
        var report = await dmp.FeedAsync(patient.Id, new DocumentToFeed(pdf, "application/pdf", "Compte rendu de consultation", gp.Rpps));
        Assert.Equal("11488-4", report.Type.Coding[0].Code);
        var cda = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "ans-cda", "VSM_1.4_2022.01.xml"));
        var summary = await dmp.FeedCdaAsync(patient.Id, cda);
        Assert.Equal(("SYNTH", "11"), (summary.Type.Coding[0].Code, summary.Category[0].Coding[0].Code));

        // Search and retrieve, byte-exact.
        var documents = await dmp.SearchAsync(patient.Id);
        Assert.Equal(new[] { report.Id, summary.Id }.Order(StringComparer.Ordinal), documents.Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Equal(pdf, await dmp.RetrieveAsync(documents.Single(d => d.Id == report.Id)));
        Assert.Equal(cda, await dmp.RetrieveAsync(documents.Single(d => d.Id == summary.Id)));

        // Masked at the patient's request: another professional no longer sees it; unmasked, they do.
        var colleague = await Server.AddProfessionalAsync("10", "SM54", "Confrère", "Paul");
        using var other = Client(colleague.Certificate);
        await other.DeclareAccessAsync(patient.Id);
        await dmp.MaskAsync(report);
        Assert.DoesNotContain(report.Id, (await other.SearchAsync(patient.Id)).Select(d => d.Id));
        await Assert.ThrowsAsync<DmpClientException>(() => other.UnmaskAsync(report));
        await dmp.UnmaskAsync(report);
        Assert.Contains(report.Id, (await other.SearchAsync(patient.Id)).Select(d => d.Id));

        // The trail names the GP's accesses.
        var trail = await dmp.ReadTrailAsync(patient.Id);
        Assert.Contains(trail, e => e.Agent.Any(a => a.Who?.Reference == "Practitioner/" + gp.Id));

        // Through the structure's software: the same professional, named in a fresh VIHF per request.
        var (finess, structure, structureId) = await Server.AddStructureAsync("Cabinet du Dr Remplaçant (test)");
        var vihf = new VihfIssuer(structure, "1" + finess, Server.BaseUrl, new VihfProfessional(gp.Rpps, "10", "SM54"), new SoftwareIdentity("Logiciel de cabinet", "4.2", "HOMOL-0042"));
        using var viaStructure = Client(structure, vihf);
        Assert.Equal(patient.Id, (await viaStructure.FindPatientAsync(Dominique.Ins, system: Ins.TestSystem))?.Id);
        Assert.True((await viaStructure.GetAccessStatusAsync(patient.Id)).IsValid);
        var viaDocuments = await viaStructure.SearchAsync(patient.Id);
        Assert.Equal(pdf, await viaStructure.RetrieveAsync(viaDocuments.Single(d => d.Id == report.Id)));
        Assert.Contains(await viaStructure.ReadTrailAsync(patient.Id), e => e.Agent.Any(a => a.Who?.Reference == "Organization/" + structureId));

        // A professional without authorisation, through the same structure: refused, with the reason.
        var stranger = await Server.AddProfessionalAsync("10", "SM54", "Inconnu", "Jean");
        using var strangerClient = Client(structure, new VihfIssuer(structure, "1" + finess, Server.BaseUrl, new VihfProfessional(stranger.Rpps, "10", "SM54"), new SoftwareIdentity("Logiciel de cabinet", "4.2")));
        await strangerClient.FindPatientAsync(Dominique.Ins, system: Ins.TestSystem);
        var denied = await Assert.ThrowsAsync<DmpClientException>(() => strangerClient.SearchAsync(patient.Id));
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
    }
}

public sealed class ClientTests_Sqlite() : ClientTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ClientTests_Postgres(PostgresCluster pg) : ClientTests(new PostgresStorage(pg, "client"));
