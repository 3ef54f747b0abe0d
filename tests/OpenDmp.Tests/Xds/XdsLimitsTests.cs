using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using static OpenDmp.Tests.Xds.XdsTests;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Xds;

/// <summary>
/// Stored queries have no paging: FindDocuments answers every match, read page after page from the
/// MHD search (here pages of 2), up to Xds:MaxResults (here 4); beyond, XDSTooManyResults asks for a
/// narrower query.
/// </summary>
public sealed class XdsLimitsTests() : ServerTestBase(new SqliteStorage())
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Documents:MaxPageSize"] = "2",
        ["Documents:DefaultPageSize"] = "2",
        ["Xds:MaxResults"] = "4",
    };

    [Fact]
    public async Task FindDocuments_AnswersEveryMatchAcrossPages_UpToTheLimit()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add("urn:uuid:" + await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR " + i), "application/pdf", "CR " + i)));
        }

        var http = Server.Http(gp.Certificate);
        var (_, body) = await QueryAsync(http, FindDocuments(patient.Ins, returnType: "ObjectRef"));
        Assert.Equal(ids.Order(StringComparer.Ordinal), body.Descendants(Rim + "ObjectRef").Select(o => o.Attribute("id")!.Value).Order(StringComparer.Ordinal));

        await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR 5"), "application/pdf", "CR 5"));
        (_, body) = await QueryAsync(http, FindDocuments(patient.Ins, returnType: "ObjectRef"));
        var error = body.Descendants(Rs + "RegistryError").Single();
        Assert.Equal("XDSTooManyResults", error.Attribute("errorCode")!.Value);
        Assert.Contains("narrow it", error.Attribute("codeContext")!.Value, StringComparison.Ordinal);
        Assert.Empty(body.Descendants(Rim + "ObjectRef"));
    }
}
