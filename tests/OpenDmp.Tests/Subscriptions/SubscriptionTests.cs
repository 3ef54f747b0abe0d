using System.Net;
using System.Security.Cryptography;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Core.Subscriptions;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Subscriptions;

/// <summary>
/// FHIR Subscriptions for practice software (issue 15), through the real server and a real HTTP
/// receiver on loopback: a professional subscribes (rest-hook, id-only), the handshake activates it,
/// a new document in their patient's record reaches them signed and by id only, one who may not
/// read the record gets nothing, an outage is retried with backoff and then exactly the missed
/// events arrive, $events lists them again; an emergency admission reaches the treating physician's
/// alert subscription (the Communication it names is readable under the policy), a dispensing the
/// prescriber's prescription-executed subscription.
/// </summary>
public abstract class SubscriptionTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Subscriptions:AllowHttpLoopback"] = "true",
        ["Subscriptions:RefreshSeconds"] = "1",
        ["Subscriptions:DeliverySeconds"] = "0.2",
        ["Subscriptions:MaxBackoffSeconds"] = "1",
        ["Alerts:DispatchSeconds"] = "0.5",
    };

    private static Subscription Request(string topic, string endpoint, string? patientFilter = null, string content = "id-only")
    {
        var s = new Subscription
        {
            Status = Subscription.SubscriptionStatus.Requested,
            Reason = "cabinet",
            Criteria = topic,
            Channel = new Subscription.ChannelComponent { Type = Subscription.SubscriptionChannelType.RestHook, Endpoint = endpoint, Payload = "application/fhir+json" },
        };
        s.Channel.PayloadElement.Extension.Add(new Extension(SubscriptionService.PayloadContentExtension, new Code(content)));
        if (patientFilter is not null)
        {
            s.CriteriaElement.Extension.Add(new Extension(SubscriptionService.FilterExtension, new FhirString("DocumentReference?patient=" + patientFilter)));
        }

        return s;
    }

    /// <summary>Creates a subscription; its id and signing key.</summary>
    private async Task<(string Id, byte[] Key)> SubscribeAsync(TestProfessional by, Subscription request)
    {
        using var created = await Server.Http(by.Certificate).PostAsync("/fhir/Subscription", FhirAssert.Json(request));
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        var s = FhirJson.Parse<Subscription>(body);
        Assert.Equal(Subscription.SubscriptionStatus.Requested, s.Status);
        Assert.Equal(request.Reason, s.Reason);
        return (s.Id!, ((Base64Binary)s.GetExtension(SubscriptionService.SecretExtension)!.Value).Value!);
    }

    private Task<FhirSubscription> StateAsync(string id) =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Subscriptions.AsNoTracking().SingleAsync(s => s.Id == id));

    /// <summary>The notifications a receiver accepted, parsed: (type, event numbers, focus URLs, signature checked with the key).</summary>
    private static List<(string Type, List<long> Numbers, List<string> Focus, Func<byte[], bool> SignedWith)> Parsed(HookReceiver r) =>
        r.Accepted.Select(n =>
        {
            var bundle = FhirJson.Parse<Bundle>(n.Body);
            Assert.Equal(Bundle.BundleType.History, bundle.Type);
            var status = (Parameters)bundle.Entry[0].Resource!;
            var events = status.Parameter.Where(p => p.Name == "notification-event").ToList();
            return (((Code)status.GetSingle("type")!.Value).Value!,
                events.Select(e => long.Parse(((FhirString)e.Part.Single(x => x.Name == "event-number").Value).Value!, System.Globalization.CultureInfo.InvariantCulture)).ToList(),
                bundle.Entry.Skip(1).Select(e => e.FullUrl!).ToList(),
                (Func<byte[], bool>)(key => SignedWith(n, key)));
        }).ToList();

    /// <summary>The signature header: t=…,v1=hex(HMAC-SHA256(key, "t." + body)).</summary>
    private static bool SignedWith(HookReceiver.Received n, byte[] key)
    {
        var parts = n.Signature!.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(parts["t"] + "." + n.Body)));
        return expected == parts["v1"];
    }

    [Fact]
    public async Task NewDocuments_ReachTheSubscriber_SignedByIdOnly_RetriedAfterAnOutage_AndNotWhoMayNotRead()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var outsider = await Server.AddProfessionalAsync(family: "Autre", given: "Paul");
        var patient = await Server.AddPatientAsync(gp);
        using var gpHook = new HookReceiver();
        using var outsiderHook = new HookReceiver();

        // Refused with the reason: an unknown topic, health data in the payload, plain http elsewhere
        // than loopback, a patient the professional may not read.
        var http = Server.Http(gp.Certificate);
        foreach (var (bad, message) in new[]
        {
            (Request("urn:opendmp:topic:everything", gpHook.Url), "criteria must be one of"),
            (Request(SubscriptionTopics.NewDocument, gpHook.Url, content: "full-resource"), "only id-only"),
            (Request(SubscriptionTopics.NewDocument, "http://example.org/hook"), "must use https"),
        })
        {
            using var refused = await http.PostAsync("/fhir/Subscription", FhirAssert.Json(bad));
            await FhirAssert.OutcomeAsync(refused, (HttpStatusCode)422, message);
        }

        // Only an authenticated professional subscribes (no client certificate: 401).
        using (var anonymous = await Server.Http(null).PostAsync("/fhir/Subscription", FhirAssert.Json(Request(SubscriptionTopics.NewDocument, gpHook.Url))))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using (var notYours = await Server.Http(outsider.Certificate).PostAsync("/fhir/Subscription", FhirAssert.Json(Request(SubscriptionTopics.NewDocument, outsiderHook.Url, "Patient/" + patient.Id))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, notYours.StatusCode);
        }

        var (subscription, key) = await SubscribeAsync(gp, Request(SubscriptionTopics.NewDocument, gpHook.Url, "Patient/" + patient.Id));
        var (outsiderSubscription, _) = await SubscribeAsync(outsider, Request(SubscriptionTopics.NewDocument, outsiderHook.Url));

        // Two who hold a grant on the record, each decided by the policy at every event: a pharmacist
        // (the matrix: prescriptions, not consultation reports) and a professional the patient blocks.
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Petit", "Louis");
        var blocked = await Server.AddProfessionalAsync(family: "Bloque", given: "Jean");
        using var pharmacistHook = new HookReceiver();
        using var blockedHook = new HookReceiver();
        foreach (var (pro, hook) in new[] { (pharmacist, pharmacistHook), (blocked, blockedHook) })
        {
            using var declared = await Server.Http(pro.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true)));
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
            await SubscribeAsync(pro, Request(SubscriptionTopics.NewDocument, hook.Url));
        }

        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<ConsentService>().BlockAsync(patient.Id, blocked.Rpps, true, new Actor(ActorKind.Patient, patient.Id, "Anne TESTPATIENT"), Channels.Api, CancellationToken.None);
            return true;
        });

        // The handshake activates them.
        await Wait.UntilAsync(async () => (await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Subscriptions.AsNoTracking().CountAsync(s => s.Status == "active"))) == 4);
        var handshake = Assert.Single(Parsed(gpHook));
        Assert.Equal("handshake", handshake.Type);
        Assert.True(handshake.SignedWith(key));
        Assert.False(handshake.SignedWith(RandomNumberGenerator.GetBytes(32)));

        // A new document: one notification, signed, naming the DocumentReference by URL only.
        var first = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("x"), "application/pdf", "Compte rendu confidentiel"));
        await Wait.UntilAsync(() => Task.FromResult(gpHook.Accepted.Count == 2));
        var notification = Parsed(gpHook)[1];
        Assert.True(notification.SignedWith(key));
        Assert.Equal("event-notification", notification.Type);
        Assert.Equal([1L], notification.Numbers);
        Assert.EndsWith("/fhir/DocumentReference/" + first, Assert.Single(notification.Focus), StringComparison.Ordinal);
        var raw = gpHook.Accepted.Last().Body;
        Assert.DoesNotContain("confidentiel", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("TESTPATIENT", raw, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("application/fhir+json; charset=utf-8", gpHook.Accepted.Last().ContentType);

        // The outage: two documents while the receiver answers 503; retried with backoff, then
        // exactly the missed events arrive, in order, once.
        gpHook.Failing = true;
        var second = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("y"), "application/pdf", "Compte rendu"));
        var third = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("z"), "application/pdf", "Compte rendu"));
        await Wait.UntilAsync(async () => gpHook.Refused >= 2 && (await StateAsync(subscription)) is { Attempts: >= 2, EventCount: 3 });
        var failing = await StateAsync(subscription);
        Assert.Equal((1L, 3L), (failing.DeliveredThrough, failing.EventCount));
        Assert.Contains("503", failing.LastError, StringComparison.Ordinal);
        gpHook.Failing = false;
        await Wait.UntilAsync(async () => (await StateAsync(subscription)).DeliveredThrough == 3);
        var all = Parsed(gpHook).Where(n => n.Type == "event-notification").ToList();
        Assert.All(all, n => Assert.True(n.SignedWith(key)));
        Assert.Equal([1L, 2L, 3L], all.SelectMany(n => n.Numbers));
        Assert.Equal(new[] { first, second, third }.Select(d => "DocumentReference/" + d), all.SelectMany(n => n.Focus).Select(f => f[(f.IndexOf("DocumentReference/", StringComparison.Ordinal))..]));
        Assert.Equal((0, (string?)null), ((await StateAsync(subscription)).Attempts, (await StateAsync(subscription)).LastError));

        // $events: the same events again for software that polls.
        using (var events = await http.GetAsync($"/fhir/Subscription/{subscription}/$events?eventsSinceNumber=2"))
        {
            var bundle = FhirJson.Parse<Bundle>(await events.Content.ReadAsStringAsync());
            var status = (Parameters)bundle.Entry[0].Resource!;
            Assert.Equal("query-event", ((Code)status.GetSingle("type")!.Value).Value);
            Assert.Equal(2, status.Parameter.Count(p => p.Name == "notification-event"));
            Assert.Equal(3, bundle.Entry.Count);
        }

        // The professional without access to the record received nothing but their handshake; their
        // subscription and its events are theirs alone.
        Assert.Equal(["handshake"], Parsed(outsiderHook).Select(n => n.Type));
        Assert.Equal(0, (await StateAsync(outsiderSubscription)).EventCount);
        using (var other = await Server.Http(outsider.Certificate).GetAsync($"/fhir/Subscription/{subscription}/$events"))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }

        // The pharmacist was told of none of these consultation reports; a prescription reaches them
        // (and the GP). The blocked professional was told of nothing.
        Assert.Equal(["handshake"], Parsed(pharmacistHook).Select(n => n.Type));
        var prescription = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("o"), "application/pdf", "Ordonnance", TypeCode: "57833-6", ClassCode: "42"));
        await Wait.UntilAsync(() => Task.FromResult(pharmacistHook.Accepted.Count == 2));
        Assert.EndsWith("/DocumentReference/" + prescription, Assert.Single(Parsed(pharmacistHook)[1].Focus), StringComparison.Ordinal);
        await Wait.UntilAsync(async () => (await StateAsync(subscription)).DeliveredThrough == 4);
        Assert.Equal(["handshake"], Parsed(blockedHook).Select(n => n.Type));

        // Each event is in the record's audit trail.
        var trail = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id && e.ObjectType == "Subscription" && e.Action == "notify").CountAsync());
        Assert.Equal(5, trail); // four to the GP, one to the pharmacist

        // Deleted: nothing more is sent.
        var before = gpHook.Accepted.Count;
        using (var deleted = await http.DeleteAsync($"/fhir/Subscription/{subscription}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("w"), "application/pdf", "Compte rendu"));
        await Task.Delay(1500);
        Assert.Equal(before, gpHook.Accepted.Count);
        Assert.Equal("off", (await StateAsync(subscription)).Status);
    }

    [Fact]
    public async Task FailingForTooLong_SetsError_AndOldEventsArePurged()
    {
        var gp = await Server.AddProfessionalAsync();
        // Two days ahead: the server's own sender (real clock) sees nothing due here, nor anything to purge.
        var now = DateTimeOffset.UtcNow.AddDays(2);
        var id = Guid.NewGuid().ToString();
        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            db.Subscriptions.Add(new FhirSubscription
            {
                Id = id, OwnerId = gp.Id, Topic = SubscriptionTopics.NewDocument, Endpoint = "https://logiciel.example/hook", Secret = new byte[32],
                Status = "active", EventCount = 2, Attempts = 9, FailingSince = now.AddHours(-25), NextAttemptAt = now.AddMinutes(-1), CreatedAt = now.AddDays(-41),
            });
            db.SubscriptionEvents.Add(new SubscriptionEvent { SubscriptionId = id, Number = 1, Focus = "DocumentReference/a", RecordId = "r1", SourceId = "e1", CreatedAt = now.AddDays(-31) });
            db.SubscriptionEvents.Add(new SubscriptionEvent { SubscriptionId = id, Number = 2, Focus = "DocumentReference/b", RecordId = "r1", SourceId = "e2", CreatedAt = now });
            return await db.SaveChangesAsync();
        });

        var options = new SubscriptionOptions();
        await Server.WithScopeAsync(async sp =>
        {
            var delivery = new SubscriptionDelivery(sp.GetRequiredService<DmpDbContext>(), sp.GetRequiredService<WriteGate>(), new FixedTime(now), options);
            var work = Assert.Single(await delivery.DueAsync(10, CancellationToken.None), w => w.Subscription.Id == id);
            Assert.Equal([1L, 2L], work.Events.Select(e => e.Number));

            // A day and an hour of failures: error, no longer due; its events stay readable until the retention.
            await delivery.FailedAsync(work, "the endpoint answered 503", CancellationToken.None);
            Assert.DoesNotContain(await delivery.DueAsync(10, CancellationToken.None), w => w.Subscription.Id == id);
            Assert.Equal(1, await delivery.PurgeAsync(CancellationToken.None));
            return true;
        });
        var state = await StateAsync(id);
        Assert.Equal(("error", 10, "the endpoint answered 503"), (state.Status, state.Attempts, state.LastError));
        var left = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().SubscriptionEvents.AsNoTracking().Where(e => e.SubscriptionId == id).Select(e => e.Number).ToListAsync());
        Assert.Equal([2L], left);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    [Fact]
    public async Task EmergencyAdmission_ReachesTheAlertSubscription_AndADispensingThePrescriber()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var patient = await Server.AddPatientAsync(gp);
        using var hook = new HookReceiver();
        var (alerts, alertKey) = await SubscribeAsync(gp, Request(SubscriptionTopics.Alert, hook.Url));
        var (executed, _) = await SubscribeAsync(gp, Request(SubscriptionTopics.PrescriptionExecuted, hook.Url));
        await Wait.UntilAsync(async () => (await StateAsync(alerts)).Status == "active" && (await StateAsync(executed)).Status == "active");

        // The emergency admission: the alert subscription names a Communication, which the GP's
        // software reads (patient and establishment, nothing clinical) and acknowledges.
        var (urgentist, hospital) = await Server.AddHospitalAsync();
        var admission = new Parameters();
        admission.Add("setting", new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EMER"));
        using (var admitted = await Server.Http(urgentist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(admission)))
        {
            Assert.Equal(HttpStatusCode.Created, admitted.StatusCode);
        }

        await Wait.UntilAsync(() => Task.FromResult(Parsed(hook).Any(n => n.Type == "event-notification")));
        var alert = Parsed(hook).Single(n => n.Type == "event-notification");
        Assert.True(alert.SignedWith(alertKey));
        var focus = Assert.Single(alert.Focus);
        Assert.Contains("/fhir/Communication/", focus, StringComparison.Ordinal);
        var http = Server.Http(gp.Certificate);
        using (var read = await http.GetAsync(focus[focus.IndexOf("/fhir/", StringComparison.Ordinal)..]))
        {
            var body = await read.Content.ReadAsStringAsync();
            Assert.True(read.StatusCode == HttpStatusCode.OK, body);
            var communication = FhirJson.Parse<Communication>(body);
            Assert.Equal("Patient/" + patient.Id, communication.Subject.Reference);
            Assert.Contains(hospital, ((FhirString)communication.Payload[0].Content).Value, StringComparison.Ordinal);
            Assert.Equal("fr", communication.Language);
        }

        // The list of unacknowledged alerts, in English when the software asks for it; empty once acknowledged.
        async Task<List<Communication>> InboxAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/fhir/Communication");
            request.Headers.AcceptLanguage.ParseAdd("en");
            using var listed = await http.SendAsync(request);
            var body = await listed.Content.ReadAsStringAsync();
            Assert.True(listed.StatusCode == HttpStatusCode.OK, body);
            return FhirJson.Parse<Bundle>(body).Entry.Select(e => (Communication)e.Resource!).ToList();
        }

        var inbox = Assert.Single(await InboxAsync());
        Assert.Equal("en", inbox.Language);
        Assert.Contains("was admitted to an emergency department", ((FhirString)inbox.Payload[0].Content).Value, StringComparison.Ordinal);
        var alertId = focus.Split('/')[^1];
        Assert.Equal(alertId, inbox.Id);
        using (var ack = await http.PostAsync($"/fhir/Communication/{alertId}/$acknowledge", null))
        {
            Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        }

        Assert.Empty(await InboxAsync());

        using (var notMine = await Server.Http(urgentist.Certificate).GetAsync($"/fhir/Communication/{alertId}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, notMine.StatusCode);
        }

        // A prescription executed: the pharmacist's dispensing reaches the prescriber, by id.
        var prescribed = await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Ordonnance"), "application/pdf", "Ordonnance", TypeCode: "57833-6", ClassCode: "42")])
            .WithEntries(new MedicationRequest
            {
                Status = MedicationRequest.MedicationrequestStatus.Active,
                Intent = MedicationRequest.MedicationRequestIntent.Order,
                Subject = new ResourceReference(patient.Reference),
                Medication = new CodeableConcept(Prescriptions.SubstanceSystem, "100000090270", "PARACETAMOL 500 mg"),
                AuthoredOn = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
                DispenseRequest = new MedicationRequest.DispenseRequestComponent { Quantity = new Quantity(16, "comprimé") },
            }));
        var prescriptionDoc = prescribed!.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
        var line = prescribed.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("MedicationRequest/", StringComparison.Ordinal)).Split('/')[1];
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Petit", "Louis");
        using (var declared = await Server.Http(pharmacist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        var dispensed = await Server.Fhir(pharmacist.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Dispensation"), "application/pdf", "Dispensation", TypeCode: "60593-1", ClassCode: "43", AppendsToDocumentId: prescriptionDoc)])
            .WithEntries(new MedicationDispense
            {
                Medication = new CodeableConcept(Prescriptions.SubstanceSystem, "100000090270", "PARACETAMOL"),
                Status = MedicationDispense.MedicationDispenseStatusCodes.Completed,
                Subject = new ResourceReference(patient.Reference),
                AuthorizingPrescription = [new ResourceReference("MedicationRequest/" + line)],
                Quantity = new Quantity(16, "comprimé"),
                WhenHandedOver = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
            }));
        var dispense = dispensed!.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("MedicationDispense/", StringComparison.Ordinal)).Split('/')[1];
        await Wait.UntilAsync(() => Task.FromResult(Parsed(hook).Count(n => n.Type == "event-notification") == 2));
        var execution = Parsed(hook).Where(n => n.Type == "event-notification").Last();
        Assert.EndsWith("/fhir/MedicationDispense/" + dispense, Assert.Single(execution.Focus), StringComparison.Ordinal);
    }
}

public sealed class SubscriptionTests_Sqlite() : SubscriptionTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class SubscriptionTests_Postgres(PostgresCluster pg) : SubscriptionTests(new PostgresStorage(pg, "subscriptions"));
