using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Hl7v2;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hl7v2;

/// <summary>
/// A hospital's ADT feed (HL7 v2.5, IHE PAM) over HTTP on the real server (issue 15): an emergency
/// registration declares the admission with the EMER setting and alerts the treating physician;
/// other events are acknowledged and not used; an unknown INS, an unreadable message or a sender
/// outside any establishment get an ACK that says why, with the matching HTTP status.
/// </summary>
public abstract class AdtFeedTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Alerts:DispatchSeconds"] = "0.3" };

    private static string Adt(string trigger, string ins, string patientClass, string controlId = "MSG0001") =>
        $"MSH|^~\\&|SIH|CHU_TEST|OpenDMP|OpenDMP|20261201083000||ADT^{trigger}^ADT_A01|{controlId}|P|2.5^FRA^2.10|||||FRA|UNICODE UTF-8\r"
        + "EVN||20261201083000\r"
        + $"PID|||123456^^^CHU_TEST&1.2.250.1.71.4.2.7&ISO^PI~{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS||PETIT^SOPHIE^^^^^L||19800512|F\r"
        + $"PV1||{patientClass}|URG^^^CHU_TEST||||||||||||||||V2026-0001^^^CHU_TEST&1.2.250.1.71.4.2.2&ISO^VN\r";

    private static async Task<(HttpStatusCode Status, string Ack)> SendAsync(HttpClient http, string message)
    {
        using var response = await http.PostAsync("/hl7v2/adt", new StringContent(message, Encoding.UTF8, "x-application/hl7-v2+er7"));
        Assert.StartsWith("x-application/hl7-v2+er7", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Msa(string ack) => ack.Split('\r').Single(s => s.StartsWith("MSA|", StringComparison.Ordinal));

    [Fact]
    public async Task AnEmergencyRegistration_DeclaresTheAdmission_AndAlertsTheTreatingPhysician()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var (urgentist, _) = await Server.AddHospitalAsync();
        var http = Server.Http(urgentist.Certificate);

        var (status, ack) = await SendAsync(http, Adt("A04", patient.Ins, "E"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("MSH|^~\\&|OpenDMP|OpenDMP|SIH|CHU_TEST|", ack, StringComparison.Ordinal);
        Assert.Contains("|ACK^A04^ACK|", ack, StringComparison.Ordinal);
        Assert.Equal("MSA|AA|MSG0001|admission declared (EMER)", Msa(ack));
        var admission = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Grants.AsNoTracking().SingleAsync(g => g.RecordId == patient.Id && g.Mode == "admission"));
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(x => x.RecordId == patient.Id && x.ObjectId == admission.Id && x.ActorId == urgentist.Id && x.Detail!.EndsWith("setting EMER"))));
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking()
            .AnyAsync(a => a.RecordId == patient.Id && a.RecipientId == gp.Id && a.Kind == "emergency-admission")));

        // An update (A08) is acknowledged and not used; an inpatient admission (A01) is declared as IMP.
        var (updated, updateAck) = await SendAsync(http, Adt("A08", patient.Ins, "E", "MSG0002"));
        Assert.Equal(HttpStatusCode.OK, updated);
        Assert.StartsWith("MSA|AA|MSG0002|event A08 acknowledged, not used", Msa(updateAck), StringComparison.Ordinal);
        var (_, admitted) = await SendAsync(http, Adt("A01", patient.Ins, "I", "MSG0003"));
        Assert.Equal("MSA|AA|MSG0003|admission declared (IMP)", Msa(admitted));
    }

    [Fact]
    public async Task Refusals_AreAcknowledgedWithTheReason_AndTheHttpStatus()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var (urgentist, _) = await Server.AddHospitalAsync();
        var http = Server.Http(urgentist.Certificate);

        var (unknown, unknownAck) = await SendAsync(http, Adt("A04", "299999999999999", "E", "MSG0100"));
        Assert.Equal(HttpStatusCode.NotFound, unknown);
        Assert.StartsWith("MSA|AE|MSG0100|", Msa(unknownAck), StringComparison.Ordinal);
        Assert.Contains("ERR|", unknownAck, StringComparison.Ordinal);

        var (garbage, garbageAck) = await SendAsync(http, "hello\rworld");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, garbage);
        Assert.StartsWith("MSA|AR||an HL7 v2 message starts with an MSH segment", Msa(garbageAck), StringComparison.Ordinal);

        var (badClass, badClassAck) = await SendAsync(http, Adt("A04", patient.Ins, "Z", "MSG0101"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badClass);
        Assert.Contains("PV1-2 patient class 'Z'", Msa(badClassAck), StringComparison.Ordinal);

        // A professional attached to no establishment declares no admission.
        var (forbidden, forbiddenAck) = await SendAsync(Server.Http(gp.Certificate), Adt("A04", patient.Ins, "E", "MSG0102"));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.StartsWith("MSA|AR|MSG0102|", Msa(forbiddenAck), StringComparison.Ordinal);
        Assert.False(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Grants.AsNoTracking().AnyAsync(g => g.RecordId == patient.Id && g.Mode == "admission")));

        // Without a client certificate: 401.
        using var anonymous = await Server.Http(null).PostAsync("/hl7v2/adt", new StringContent(Adt("A04", patient.Ins, "E"), Encoding.UTF8, "x-application/hl7-v2+er7"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public void TheParser_IsBounded_AndReadsEscapesAndComponents()
    {
        Assert.Throws<OpenDmp.Core.Common.DmpException>(() => Er7Message.Parse("MSH|^~\\&|A\r" + string.Concat(Enumerable.Repeat("NTE|x\r", Er7Message.MaxSegments))));
        Assert.Throws<OpenDmp.Core.Common.DmpException>(() => Er7Message.Parse("MSH|^^^^|A\r"));
        Assert.Throws<OpenDmp.Core.Common.DmpException>(() => Er7Message.Parse(new string('x', Er7Message.MaxBytes + 1)));
        var m = Er7Message.Parse("MSH|^~\\&|A|B\nPID|||1^^^X&1.2&ISO~2^^^Y||DUP\\S\\ONT^ANNE");
        Assert.Equal("DUP^ONT", m.Component(Er7Message.Field(m.Segment("PID"), 5), 1));
        Assert.Equal(2, m.Repetitions(Er7Message.Field(m.Segment("PID"), 3)).Count);
        Assert.Equal("1.2", m.Subcomponent(m.Component(m.Repetitions(Er7Message.Field(m.Segment("PID"), 3))[0], 4), 2));
    }
}

public sealed class AdtFeedTests_Sqlite() : AdtFeedTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class AdtFeedTests_Postgres(PostgresCluster pg) : AdtFeedTests(new PostgresStorage(pg, "adtfeed"));
