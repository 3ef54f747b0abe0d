using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Records;

/// <summary>The RNIV's four statuses derive from the INSi recovery, the document checked and a doubt; nothing else.</summary>
public sealed class IdentityStatusRulesTests
{
    private static readonly DateOnly Day = new(2026, 11, 2);

    [Theory]
    [InlineData(false, false, false, IdentityStatus.Provisional)]
    [InlineData(true, false, false, IdentityStatus.Recovered)]
    [InlineData(false, true, false, IdentityStatus.Validated)]
    [InlineData(true, true, false, IdentityStatus.Qualified)]
    [InlineData(true, true, true, IdentityStatus.Provisional)]
    public void TheStatus_FollowsTheEvidence(bool insi, bool document, bool doubtful, IdentityStatus expected) =>
        Assert.Equal(expected, IdentityVigilance.StatusOf(new IdentityEvidence(insi ? Day : null, document ? "CN" : null, document ? Day : null, doubtful)));

    [Fact]
    public void EvidenceThatCannotBe_IsRefused()
    {
        Assert.Contains("not an identity document of high trust", Assert.Throws<DmpException>(() => IdentityVigilance.Check(new IdentityEvidence(null, "PERMIS", Day), Day)).Message, StringComparison.Ordinal);
        Assert.Contains("needs its date", Assert.Throws<DmpException>(() => IdentityVigilance.Check(new IdentityEvidence(null, "PA", null), Day)).Message, StringComparison.Ordinal);
        Assert.Contains("future", Assert.Throws<DmpException>(() => IdentityVigilance.Check(new IdentityEvidence(Day.AddDays(1), null, null), Day)).Message, StringComparison.Ordinal);
        var refusal = Assert.Throws<DmpException>(() => IdentityVigilance.RequireQualified(IdentityStatus.Validated, "file documents"));
        Assert.Equal(ErrorKind.Conflict, refusal.Kind);
        Assert.Contains("identity is VALI", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("missing: the INS recovered from the INSi teleservice", refusal.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// Every patient carries an identity status (fr-core identityReliability on Patient); only a
/// qualified identity opens a record or files under the INS; a doubt stops filing until lifted; each
/// change is on the record's audit chain.
/// </summary>
public abstract class IdentityStatusTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private static DocumentToSubmit Note() =>
        new(Encoding.UTF8.GetBytes("Compte rendu de consultation"), "text/plain", "Consultation", "11488-4", "10", "urn:ihe:iti:xds-sd:text:2008", "SA07", "AMBULATOIRE", "N");

    [Fact]
    public async Task OnlyAQualifiedIdentity_OpensARecordAndFiles_AndADoubtStopsFiling()
    {
        var gp = await Server.AddProfessionalAsync();
        var ins = TestIds.NewIns();
        var (code, output) = await CliAsync("patient", "add", "--ins", ins, "--ins-system", "test", "--family", "Garnier", "--given", "Lucie", "--birth-date", "1988-02-14", "--sex", "F",
            "--document", "CN", "--checked-on", "2026-11-02");
        Assert.True(code == 0, output);
        Assert.Contains("identité validée (VALI)", output, StringComparison.Ordinal);

        // Validated only: no record.
        (code, output) = await CliAsync("record", "open", "--ins", ins, "--ins-system", "test", "--treating-physician", gp.Rpps, "--consent-collected-by", gp.Rpps, "--channel", "office");
        Assert.Equal(3, code);
        Assert.Contains("identity is VALI (Identité validée): only a qualified identity may be used to open a record under the INS; missing: the INS recovered from the INSi teleservice", output, StringComparison.Ordinal);

        // The INS recovered from INSi: qualified; the record opens and accepts documents.
        (code, output) = await CliAsync("patient", "identity", "--ins", ins, "--ins-system", "test", "--insi-recovered", "2026-11-03", "--document", "CN", "--checked-on", "2026-11-02");
        Assert.True(code == 0, output);
        Assert.Contains("Identité qualifiée (QUAL)", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("record", "open", "--ins", ins, "--ins-system", "test", "--treating-physician", gp.Rpps, "--consent-collected-by", gp.Rpps, "--channel", "office");
        Assert.True(code == 0, output);
        var patient = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().FindByInsAsync(ins, CancellationToken.None, Ins.TestSystem));
        var test = new TestPatient(patient!.RecordId, ins, Ins.TestSystem);
        await Server.SubmitAsync(gp, test, Note());

        // The Patient resource says so, as fr-core does.
        var json = JsonNode.Parse(await Server.Http(gp.Certificate).GetStringAsync("/fhir/Patient/" + test.Id))!;
        var reliability = json["extension"]!.AsArray().Single(e => (string?)e!["url"] == IdentityVigilance.ReliabilityExtension)!["extension"]!.AsArray();
        Assert.Equal("QUAL", (string?)reliability.Single(e => (string?)e!["url"] == "identityStatus")!["valueCoding"]!["code"]);
        Assert.Equal("CN", (string?)reliability.Single(e => (string?)e!["url"] == "validationMode")!["valueCoding"]!["code"]);
        Assert.Equal("2026-11-02", (string?)reliability.Single(e => (string?)e!["url"] == "validationDate")!["valueDate"]);

        // A doubt: provisional, nothing more filed under the INS until it is lifted.
        (code, output) = await CliAsync("patient", "identity", "--ins", ins, "--ins-system", "test", "--insi-recovered", "2026-11-03", "--document", "CN", "--checked-on", "2026-11-02", "--doubtful");
        Assert.True(code == 0, output);
        using var refused = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(test.Reference, gp.Rpps, gp.Display, [Note()])));
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("identity is PROV", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.CountAsync(d => d.RecordId == test.Id)));

        // Every change is on the record's chain.
        var changes = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == test.Id && e.ObjectType == "Patient" && e.Detail != null && e.Detail.StartsWith("identity")).OrderBy(e => e.Seq).Select(e => e.Detail).ToListAsync());
        Assert.Equal(["identity VALI", "identity VALI → QUAL", "identity QUAL → PROV"], changes);
    }

    [Fact]
    public async Task ASoftwareThatStatesANonQualifiedIdentity_CannotOpenARecord()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = new Hl7.Fhir.Model.Patient
        {
            Identifier = [new Identifier(Ins.NirSystem, TestIds.NewIns())],
            Name = [new HumanName { Use = HumanName.NameUse.Official, Family = "Roux", Given = ["Jeanne"] }],
            BirthDate = "1990-06-01",
            Gender = AdministrativeGender.Female,
        };
        patient.Extension.Add(IdentityVigilance.ToExtension(IdentityStatus.Recovered, null, null));
        var p = new Parameters();
        p.Parameter.Add(new Parameters.ParameterComponent { Name = "patient", Resource = patient });
        p.Add("consent", new FhirBoolean(true));
        p.Add("information-notice", new FhirString(InformationNotice.Current.Version));
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir/Patient/$open-record", FhirAssert.Json(p));
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("identity is RECUP", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Patients.AnyAsync(x => x.Family == "ROUX")));
    }
}

public sealed class IdentityStatusTests_Sqlite() : IdentityStatusTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class IdentityStatusTests_Postgres(PostgresCluster pg) : IdentityStatusTests(new PostgresStorage(pg, "identity"));
