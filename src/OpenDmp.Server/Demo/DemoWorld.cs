using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Server.Demo;

/// <summary>
/// A small demonstration world created in an empty data directory: a GP, a cardiologist, a
/// pharmacist, a hospital, three patients with demonstration INS (flagged as test identities) and
/// open records, and a few documents filed through the ITI-65 path. Certificates go to DATA/demo.
/// </summary>
public static class DemoWorld
{
    public const string GpRpps = "10000000017";
    public const string CardiologistRpps = "10000000025";
    public const string PharmacistRpps = "10000000033";

    /// <summary>The password of the demo professionals' PKCS#12 files (DATA/demo/RPPS.p12).</summary>
    public const string P12Password = "demo";

    /// <summary>A demo patient: INS, name, record id and, while the account is not activated, a fresh activation code.</summary>
    public sealed record DemoPatient(string Ins, string Name, string Id, string? ActivationCode);

    public sealed record Summary(bool Created, IReadOnlyList<(string Rpps, string Name)> Professionals, IReadOnlyList<DemoPatient> Patients)
    {
        public string Describe(string url, DataDirectory data)
        {
            var sb = new StringBuilder();
            if (Professionals.Count == 0 && Patients.Count == 0)
            {
                // A data folder set up without the demo world (filled through the command line): nothing to show.
                sb.AppendLine("No demo world in this data folder (it was filled through the command line); 'opendmp --help' lists the administration commands.");
                return sb.ToString();
            }

            sb.AppendLine(Created ? "Demo world created:" : "Demo world:");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  patients: first visit at {url}/patient/activation with the INS and the activation code below");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  professionals: import a .p12 below into the browser (password \"{P12Password}\") and trust {data.CaCertificate}, then open {url}/pro");
            foreach (var (rpps, name) in Professionals)
            {
                sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  {name,-52} RPPS {rpps}  {Path.Combine(data.Demo, rpps + ".p12")} (and .crt/.key for curl)");
            }

            foreach (var p in Patients)
            {
                var account = p.ActivationCode is null ? "account activated: sign in at /patient/connexion" : $"activation code {p.ActivationCode}";
                sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  patient {p.Name,-20} INS (demo) {p.Ins}  {account}");
            }

            if (Patients.Count == 0 || !Professionals.Any(p => p.Rpps == GpRpps))
            {
                return sb.ToString();
            }

            var gpIns = Patients[0].Ins;
            sb.AppendLine();
            sb.AppendLine("Try it (as the GP):");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"  curl --cacert {data.CaCertificate} --cert {Path.Combine(data.Demo, GpRpps + ".crt")} --key {Path.Combine(data.Demo, GpRpps + ".key")} \\");
            sb.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"    '{url}/fhir/DocumentReference?patient.identifier={Ins.DemoSystem}|{gpIns}'");
            return sb.ToString();
        }
    }

    public static async Task<Summary> EnsureAsync(IServiceProvider services, DataDirectory data, CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<DmpDbContext>();
        var created = !await db.Professionals.AnyAsync(ct) && !await db.Patients.AnyAsync(ct);
        (string Rpps, string Profession, string? Specialty, string Family, string Given)[] pros =
        [
            (GpRpps, "10", "SM54", "Martin", "Claire"),
            (CardiologistRpps, "10", "SM04", "Bernard", "Louis"),
            (PharmacistRpps, "21", null, "Petit", "Sophie"),
        ];
        (string Nir13, string Family, string Given, DateOnly Birth, string Sex, string Place)[] patients =
        [
            ("1560375056024", "DUPONT", "Jean Pierre", new DateOnly(1956, 3, 12), "M", "75056"),
            ("2790213055017", "LEROY", "Marie", new DateOnly(1979, 2, 4), "F", "13055"),
            ("188112A004012", "ROSSI", "Antoine", new DateOnly(1988, 11, 23), "M", "2A004"),
        ];
        var patientInfo = new List<DemoPatient>();
        if (created)
        {
            var directory = sp.GetRequiredService<DirectoryService>();
            foreach (var p in pros)
            {
                await directory.AddProfessionalAsync(p.Rpps, p.Profession, p.Specialty, p.Family, p.Given, Actor.Operator, Channels.Admin, ct);
            }

            db.Organizations.Add(new Organization { Id = Ids.New(), Finess = "750000001", IdentifierSystem = "urn:oid:1.2.250.1.71.4.2.2", IdentifierValue = "750000001", Name = "Hôpital de démonstration OpenDMP", TypeCode = "SA01", City = "Paris", CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(ct);
            var records = sp.GetRequiredService<RecordService>();
            var provide = sp.GetRequiredService<ProvideDocumentBundle>();
            var gp = (await directory.FindByRppsAsync(GpRpps, ct))!;
            var gpActor = new Actor(ActorKind.Professional, gp.Id, gp.DisplayName, gp.ProfessionCode);
            foreach (var p in patients)
            {
                var ins = Ins.WithKey(p.Nir13);
                var patient = await records.AddPatientAsync(new NewPatient(ins, Ins.DemoSystem, p.Family, p.Given, p.Birth, p.Sex, p.Place), Actor.Operator, Channels.Admin, ct);
                await records.OpenAsync(patient.RecordId, GpRpps, GpRpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, ct);
                var bundle = SubmissionBuilder.Build("Patient/" + patient.RecordId, GpRpps, gp.DisplayName,
                [
                    new DocumentToSubmit(SubmissionBuilder.MinimalPdf($"Compte rendu de consultation - {p.Family}"), "application/pdf", "Compte rendu de consultation", Date: DateTimeOffset.UtcNow.AddDays(-30)),
                    new DocumentToSubmit(Encoding.UTF8.GetBytes($"Synthèse médicale de {p.Given} {p.Family}\nAntécédents : aucun connu.\n"), "text/plain", "Synthèse médicale", TypeCode: "60591-5", ClassCode: "11", FormatCode: "urn:ihe:iti:xds-sd:text:2008"),
                ]);
                await provide.HandleAsync(bundle, gpActor, Channels.Admin, ct);
                db.ChangeTracker.Clear();
            }
        }

        var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
        var names = new List<(string, string)>();
        foreach (var p in pros)
        {
            var pro = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == p.Rpps, ct);
            if (pro is null)
            {
                continue;
            }

            if (!File.Exists(Path.Combine(data.Demo, p.Rpps + ".crt")))
            {
                using var issued = ca.IssueProfessional(p.Rpps, pro.DisplayName, null, data.Demo, TimeProvider.System);
                await sp.GetRequiredService<OpenDmp.Core.Pki.CertificateService>().RegisterAsync(issued, ct);
            }

            if (!File.Exists(Path.Combine(data.Demo, p.Rpps + ".p12")))
            {
                using var existing = X509Certificate2.CreateFromPemFile(Path.Combine(data.Demo, p.Rpps + ".crt"), Path.Combine(data.Demo, p.Rpps + ".key"));
                TestCertificateAuthority.WritePkcs12(existing, Path.Combine(data.Demo, p.Rpps + ".p12"), P12Password);
            }

            var profession = Nomenclatures.Professions.GetValueOrDefault(p.Profession, p.Profession);
            names.Add((p.Rpps, $"{pro.DisplayName} — {profession}" + (p.Specialty is null ? string.Empty : " (" + Nomenclatures.Specialties[p.Specialty] + ")")));
        }

        foreach (var p in patients)
        {
            var ins = Ins.WithKey(p.Nir13);
            var id = await db.PatientIdentifiers.AsNoTracking().Where(x => x.System == Ins.DemoSystem && x.Value == ins).Select(x => x.RecordId).FirstOrDefaultAsync(ct);
            if (id is not null)
            {
                // A demo patient whose account is not activated gets a fresh code at each start (the previous one stops working).
                var activated = await db.PatientAccounts.AsNoTracking().AnyAsync(a => a.RecordId == id && a.ActivatedAt != null, ct);
                var code = activated ? null : await sp.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>().IssueActivationAsync(id, null, Actor.Operator, Channels.Admin, ct);
                patientInfo.Add(new DemoPatient(ins, $"{p.Given} {p.Family}", id, code));
            }
        }

        return new Summary(created, names, patientInfo);
    }
}
