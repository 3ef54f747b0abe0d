using System.CommandLine;
using System.Globalization;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Import;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Server.Demo;
using OpenDmp.Server.Hosting;
using OpenDmp.Server.Patients;
using System.Security.Cryptography.X509Certificates;
using Spectre.Console;

namespace OpenDmp.Server.Cli;

/// <summary>
/// The opendmp executable's command line: serve (the default) and the administration subcommands.
/// Every subcommand accepts --data DIR; bad input prints a clear message and exits non-zero.
/// </summary>
public static partial class AdminCli
{
    public static async Task<int> RunAsync(string[] args, IDictionary<string, string?>? configOverrides = null, TextWriter? output = null, TextWriter? error = null)
    {
        var dataOption = new Option<string>("--data") { Description = "data directory (database, content, pki)", DefaultValueFactory = _ => "./data", Recursive = true };
        var root = new RootCommand("OpenDMP — dossier médical partagé: server and administration tool");
        root.Options.Add(dataOption);
        var c = new Cli(dataOption, configOverrides, output ?? Console.Out, error ?? Console.Error);
        AddServe(root, c);
        AddInit(root, c);
        AddProfessional(root, c);
        AddPki(root, c);
        AddStaffAndOrganizations(root, c);
        AddPatient(root, c);
        AddRepresentative(root, c);
        AddGroup(root, c);
        AddRecord(root, c);
        AddBackup(root, c);
        AddKeys(root, c);
        AddImport(root, c);
        AddTerminology(root, c);
        AddAudit(root, c);
        AddAlerts(root, c);

        // Parse errors (unknown command, missing or malformed option) are invalid input: exit code 2.
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
            {
                await c.Err.WriteLineAsync("error: " + e.Message);
            }

            await c.Err.WriteLineAsync("Run 'opendmp --help' (or 'opendmp COMMAND --help') for the commands and their options.");
            return 2;
        }

        return await parsed.InvokeAsync(cancellationToken: CancellationToken.None);
    }

    /// <summary>What every command needs: the --data option, configuration overrides, the output streams.</summary>
    private sealed record Cli(Option<string> Data, IDictionary<string, string?>? Overrides, TextWriter Out, TextWriter Err);

    /// <summary>serve (the default command).</summary>
    private static void AddServe(RootCommand root, Cli c)
    {
        var urlsOption = new Option<string>("--urls") { Description = "HTTPS URLs to listen on, separated by ';'", DefaultValueFactory = _ => "https://127.0.0.1:5443" };
        var noDemoOption = new Option<bool>("--no-demo") { Description = "do not create the demo world in an empty data directory" };
        var serve = new Command("serve", "run the OpenDMP server (default)") { urlsOption, noDemoOption };
        serve.SetAction((pr, ct) => Guarded(c.Err, () => ServeAsync(Data(pr, c), c.Overrides, pr.GetValue(urlsOption)!, !pr.GetValue(noDemoOption), c.Out, ct)));
        root.Subcommands.Add(serve);
        root.Options.Add(urlsOption);
        root.Options.Add(noDemoOption);
        root.SetAction((pr, ct) => Guarded(c.Err, () => ServeAsync(Data(pr, c), c.Overrides, pr.GetValue(urlsOption)!, !pr.GetValue(noDemoOption), c.Out, ct)));
    }

    /// <summary>init: first-time set-up of a data folder.</summary>
    private static void AddInit(RootCommand root, Cli c)
    {
        var init = new Command("init", "create a data folder (database, certification authority) without serving");
        init.SetAction((pr, ct) => Guarded(c.Err, async () =>
        {
            var data = Data(pr, c);
            data.Ensure();
            await WithServicesAsync(data, c.Overrides, async sp =>
            {
                var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
                await c.Out.WriteLineAsync($"Data folder {data.Root} ready (certification authority {data.CaCertificate}).");
                await WriteCrlAsync(sp, ct);
                GC.KeepAlive(ca);
            }, ct);
        }));
        root.Subcommands.Add(init);
    }

    /// <summary>professional add | deactivate | reactivate.</summary>
    private static void AddProfessional(RootCommand root, Cli c)
    {
        // professional add
        var rpps = new Option<string>("--rpps") { Description = "RPPS number (11 digits)", Required = true };
        var profession = new Option<string>("--profession") { Description = "profession code (TRE_G15: 10 = médecin, 21 = pharmacien, …)", Required = true };
        var specialty = new Option<string?>("--specialty") { Description = "specialty code (TRE_R38, e.g. SM54 = médecine générale)" };
        var family = new Option<string>("--family") { Description = "family name", Required = true };
        var given = new Option<string>("--given") { Description = "given name", Required = true };
        var professionalAdd = new Command("add", "add a health professional to the directory") { rpps, profession, specialty, family, given };
        professionalAdd.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var p = await sp.GetRequiredService<DirectoryService>().AddProfessionalAsync(pr.GetValue(rpps)!, pr.GetValue(profession)!, pr.GetValue(specialty), pr.GetValue(family)!, pr.GetValue(given)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Professional {p.DisplayName} added (RPPS {p.Rpps}, Practitioner/{p.Id}).");
        }, ct)));
        var activeRpps = new Option<string>("--rpps") { Description = "RPPS of the professional", Required = true };
        var deactivate = new Command("deactivate", "deactivate a professional: no authentication, deposit or sending any more; revokes their certificates") { activeRpps };
        deactivate.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            await sp.GetRequiredService<CertificateService>().SetActiveAsync(pr.GetValue(activeRpps)!, false, Actor.Operator, Channels.Admin, ct);
            await WriteCrlAsync(sp, ct);
            await c.Out.WriteLineAsync($"Professional RPPS {pr.GetValue(activeRpps)} deactivated; their certificates are revoked (CRL updated).");
        }, ct)));
        var reactivate = new Command("reactivate", "reactivate a professional (their former certificates stay revoked: issue a new one)") { activeRpps };
        reactivate.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            await sp.GetRequiredService<CertificateService>().SetActiveAsync(pr.GetValue(activeRpps)!, true, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Professional RPPS {pr.GetValue(activeRpps)} reactivated.");
        }, ct)));
        var off = new Option<bool>("--off") { Description = "withdraw the role" };
        var reviewer = new Command("reviewer", "grant (or with --off withdraw) the access-review role: the professional reviews the signals of improper access in /pro/revue-acces") { activeRpps, off };
        reviewer.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var granted = !pr.GetValue(off);
            await sp.GetRequiredService<DirectoryService>().SetAccessReviewerAsync(pr.GetValue(activeRpps)!, granted, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Professional RPPS {pr.GetValue(activeRpps)} {(granted ? "now reviews" : "no longer reviews")} the signals of improper access.");
        }, ct)));
        var officer = new Command("identity-officer", "grant (or with --off withdraw) the identity-vigilance role: the professional reviews the possible duplicate identities in /pro/identitovigilance") { activeRpps, off };
        officer.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var granted = !pr.GetValue(off);
            await sp.GetRequiredService<DirectoryService>().SetIdentityOfficerAsync(pr.GetValue(activeRpps)!, granted, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Professional RPPS {pr.GetValue(activeRpps)} {(granted ? "now reviews" : "no longer reviews")} the possible duplicate identities.");
        }, ct)));
        root.Subcommands.Add(new Command("professional", "directory of professionals") { professionalAdd, deactivate, reactivate, reviewer, officer });
    }

    /// <summary>pki issue-professional | revoke.</summary>
    private static void AddPki(RootCommand root, Cli c)
    {
        // pki issue-professional
        var pkiRpps = new Option<string>("--rpps") { Description = "RPPS of a professional of the directory", Required = true };
        var outDir = new Option<string>("--out") { Description = "directory where N.crt and N.key are written", Required = true };
        var pkiEmail = new Option<string?>("--email") { Description = "secure-messaging address: the certificate carries it, the directory publishes it with the certificate, and the platform keeps the messaging key to send on the professional's behalf" };
        var p12Password = new Option<string?>("--p12-password") { Description = "password of the PKCS#12 file written beside the PEM files (for a browser); default: a random one, printed once" };
        var issue = new Command("issue-professional", "issue a CPS-like client certificate for a professional (PEM files and a PKCS#12 file to import into a browser)") { pkiRpps, outDir, pkiEmail, p12Password };
        issue.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var r = pr.GetValue(pkiRpps)!;
            if (Rpps.Validate(r) is { } err)
            {
                throw DmpException.Invalid(err);
            }

            var p = await sp.GetRequiredService<DirectoryService>().FindByRppsAsync(r, ct) ?? throw DmpException.Invalid($"no professional with RPPS {r} in the directory (add it with 'professional add')");
            var data = sp.GetRequiredService<DataDirectory>();
            var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
            var dir = pr.GetValue(outDir)!;
            var email = EmailAddress.Optional(pr.GetValue(pkiEmail), "--email");

            using var cert = ca.IssueProfessional(r, p.DisplayName, email ?? p.Email, dir, TimeProvider.System);
            await sp.GetRequiredService<CertificateService>().RegisterAsync(cert, ct);
            var password = pr.GetValue(p12Password) ?? Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
            TestCertificateAuthority.WritePkcs12(cert, Path.Combine(dir, r + ".p12"), password);
            await c.Out.WriteLineAsync($"Wrote {Path.Combine(dir, r + ".crt")} and {Path.Combine(dir, r + ".key")} (issuer: {data.CaCertificate}, serial {cert.SerialNumber}).");
            await c.Out.WriteLineAsync($"For a browser: {Path.Combine(dir, r + ".p12")}" + (pr.GetValue(p12Password) is null ? $" (password {password})" : string.Empty) + $"; trust {data.CaCertificate} as an authority.");
            if (email is not null)
            {
                await sp.GetRequiredService<DirectoryService>().SetMessagingAsync(r, email, cert.ExportCertificatePem(), ct);
                OpenDmp.Core.Messaging.MessagingKeys.Install(data.Pki, r, Path.Combine(dir, r + ".crt"), Path.Combine(dir, r + ".key"));
                await c.Out.WriteLineAsync($"Secure messaging: {email} published in the directory with this certificate; the platform keeps the messaging key.");
            }
        }, ct)));
        var revokeSerial = new Option<string?>("--serial") { Description = "serial number (hexadecimal) of one certificate" };
        var revokeRpps = new Option<string?>("--rpps") { Description = "every certificate of this professional (a lost or stolen card)" };
        var revokeReason = new Option<string>("--reason") { Description = "keyCompromise | affiliationChanged | superseded | cessationOfOperation | unspecified", DefaultValueFactory = _ => "keyCompromise" };
        var revoke = new Command("revoke", "revoke a professional certificate (or all of a professional's): refused at once by every instance, published in the CRL (DATA/pki/ca.crl, /pki/ca.crl)") { revokeSerial, revokeRpps, revokeReason };
        revoke.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var serials = await sp.GetRequiredService<CertificateService>().RevokeAsync(pr.GetValue(revokeSerial), pr.GetValue(revokeRpps), pr.GetValue(revokeReason)!, Actor.Operator, Channels.Admin, ct);
            await WriteCrlAsync(sp, ct);
            await c.Out.WriteLineAsync(pr.GetValue(revokeRpps) is { } rpps
                ? $"Every certificate of RPPS {rpps} issued until now is revoked ({serials.Count} listed in the CRL)."
                : $"Certificate {serials[0]} revoked and listed in the CRL.");
        }, ct)));
        root.Subcommands.Add(new Command("pki", "test certification authority") { issue, IssueStaffCommand(c), IssueOrganizationCommand(c), revoke });
    }

    /// <summary>pki issue-staff: registers the staff member and issues their staff card's certificate.</summary>
    private static Command IssueStaffCommand(Cli c)
    {
        var identifier = new Option<string>("--identifier") { Description = "the staff card's identifier (letters, digits, '-' or '/')", Required = true };
        var family = new Option<string>("--family") { Description = "family name", Required = true };
        var given = new Option<string>("--given") { Description = "given name", Required = true };
        var finess = new Option<string?>("--finess") { Description = "FINESS of the employing structure, when it is in the directory" };
        var outDir = new Option<string>("--out") { Description = "directory where staff-ID.crt, .key and .p12 are written", Required = true };
        var p12Password = new Option<string?>("--p12-password") { Description = "password of the PKCS#12 file; default: a random one, printed once" };
        var command = new Command("issue-staff", "register a staff member (medical secretary, pharmacy assistant) and issue their staff card's certificate; a professional then declares that they work for them") { identifier, family, given, finess, outDir, p12Password };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            string? organization = null;
            if (pr.GetValue(finess) is { } f)
            {
                organization = (await sp.GetRequiredService<DirectoryService>().FindOrganizationByFinessAsync(f, ct))?.Id
                    ?? throw DmpException.Invalid($"no organisation with FINESS {f} in the directory");
            }

            var member = await sp.GetRequiredService<StaffService>().RegisterAsync(pr.GetValue(identifier)!, pr.GetValue(family)!, pr.GetValue(given)!, organization, Actor.Operator, Channels.Admin, ct);
            var data = sp.GetRequiredService<DataDirectory>();
            var dir = pr.GetValue(outDir)!;
            using var cert = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System).IssueStaff(member.Identifier, member.DisplayName, dir, TimeProvider.System);
            await sp.GetRequiredService<CertificateService>().RegisterAsync(cert, ct);
            await WriteClientFilesAsync(c, cert, dir, "staff-" + member.Identifier.Replace('/', '_'), pr.GetValue(p12Password), data, $"Staff member {member.DisplayName} ({member.Identifier})");
        }, ct)));
        return command;
    }

    /// <summary>pki issue-organization: an establishment's system certificate (declares admissions and care teams).</summary>
    private static Command IssueOrganizationCommand(Cli c)
    {
        var finess = new Option<string>("--finess") { Description = "FINESS of an organisation of the directory", Required = true };
        var outDir = new Option<string>("--out") { Description = "directory where org-FINESS.crt, .key and .p12 are written", Required = true };
        var p12Password = new Option<string?>("--p12-password") { Description = "password of the PKCS#12 file; default: a random one, printed once" };
        var command = new Command("issue-organization", "issue an organisation certificate for an establishment's information system or a structure's software: alone, it declares admissions ($declare-admission, the ADT feed) and attests care-team members; with a VIHF (X-OpenDMP-VIHF) it acts for the professional it asserts") { finess, outDir, p12Password };
        command.Aliases.Add("issue-organisation");
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var f = pr.GetValue(finess)!;
            var org = await sp.GetRequiredService<DirectoryService>().FindOrganizationByFinessAsync(f, ct)
                ?? throw DmpException.Invalid($"no organisation with FINESS {f} in the directory (add it with 'organization add')");
            var data = sp.GetRequiredService<DataDirectory>();
            var dir = pr.GetValue(outDir)!;
            X509Certificate2 cert;
            try
            {
                cert = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System).IssueOrganization(f, org.Name, dir, TimeProvider.System);
            }
            catch (ArgumentException ex)
            {
                throw DmpException.Invalid(ex.Message);
            }

            using (cert)
            {
                await sp.GetRequiredService<CertificateService>().RegisterAsync(cert, ct);
                await WriteClientFilesAsync(c, cert, dir, "org-" + f, pr.GetValue(p12Password), data, $"Establishment {org.Name} (FINESS {f})");
            }
        }, ct)));
        return command;
    }

    private static async System.Threading.Tasks.Task WriteClientFilesAsync(Cli c, X509Certificate2 cert, string dir, string fileBase, string? p12Password, DataDirectory data, string who)
    {
        var password = p12Password ?? Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        TestCertificateAuthority.WritePkcs12(cert, Path.Combine(dir, fileBase + ".p12"), password);
        await c.Out.WriteLineAsync($"{who}: wrote {Path.Combine(dir, fileBase + ".crt")} and {Path.Combine(dir, fileBase + ".key")} (issuer: {data.CaCertificate}, serial {cert.SerialNumber}).");
        await c.Out.WriteLineAsync($"PKCS#12: {Path.Combine(dir, fileBase + ".p12")}" + (p12Password is null ? $" (password {password})" : string.Empty) + ".");
    }

    /// <summary>staff assign | end; organization add.</summary>
    private static void AddStaffAndOrganizations(RootCommand root, Cli c)
    {
        var staff = new Option<string>("--staff") { Description = "the staff card's identifier", Required = true };
        var rpps = new Option<string>("--rpps") { Description = "RPPS of the professional they work for", Required = true };
        var mayRead = new Option<bool>("--may-read") { Description = "the staff member may read content within the professional's rights (default: files only)" };
        var assign = new Command("assign", "declare, for a structure, that a staff member works for a professional (the professional can do it in the portal, Personnel)") { staff, rpps, mayRead };
        assign.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var p = await sp.GetRequiredService<DirectoryService>().FindByRppsAsync(pr.GetValue(rpps)!, ct) ?? throw DmpException.Invalid($"no professional with RPPS {pr.GetValue(rpps)} in the directory");
            var entry = await sp.GetRequiredService<StaffService>().DeclareAsync(pr.GetValue(staff)!, p.Id, pr.GetValue(mayRead), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"{entry.Member.DisplayName} works for {p.DisplayName} ({(entry.Assignment.MayRead ? "may read within their rights" : "files only")}).");
        }, ct)));
        var end = new Command("end", "end a staff member's work for a professional: their card no longer acts for them") { staff, rpps };
        end.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var p = await sp.GetRequiredService<DirectoryService>().FindByRppsAsync(pr.GetValue(rpps)!, ct) ?? throw DmpException.Invalid($"no professional with RPPS {pr.GetValue(rpps)} in the directory");
            await sp.GetRequiredService<StaffService>().EndAsync(pr.GetValue(staff)!, p.Id, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"{pr.GetValue(staff)} no longer works for {p.DisplayName}.");
        }, ct)));
        var deactivate = new Command("deactivate", "deactivate a staff member (left, card lost): every assignment ends and the card no longer authenticates") { staff };
        deactivate.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            await sp.GetRequiredService<StaffService>().DeactivateAsync(pr.GetValue(staff)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"{pr.GetValue(staff)} is deactivated: their card acts for no one.");
        }, ct)));
        root.Subcommands.Add(new Command("staff", "staff members who work for professionals (secretaries, pharmacy assistants)") { assign, end, deactivate });

        var finess = new Option<string>("--finess") { Description = "FINESS (9 characters)", Required = true };
        var name = new Option<string>("--name") { Description = "the establishment's name", Required = true };
        var city = new Option<string?>("--city") { Description = "city" };
        var add = new Command("add", "add an establishment to the directory") { finess, name, city };
        add.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var o = await sp.GetRequiredService<DirectoryService>().AddOrganizationAsync(pr.GetValue(finess)!, pr.GetValue(name)!, pr.GetValue(city), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Organisation {o.Name} added (FINESS {o.Finess}, Organization/{o.Id}).");
        }, ct)));
        root.Subcommands.Add(new Command("organization", "directory of establishments") { add });
    }

    /// <summary>patient add | activation.</summary>
    private static void AddPatient(RootCommand root, Cli c)
    {
        // patient add
        var ins = new Option<string>("--ins") { Description = "INS (NIR, 15 characters with the key)", Required = true };
        var insSystem = new Option<string>("--ins-system") { Description = "identifier system: nir (default), nia, test, demo", DefaultValueFactory = _ => "nir" };
        var pFamily = new Option<string>("--family") { Description = "birth family name", Required = true };
        var pGiven = new Option<string>("--given") { Description = "birth given names", Required = true };
        var birthDate = new Option<string>("--birth-date") { Description = "YYYY-MM-DD", Required = true };
        var sex = new Option<string>("--sex") { Description = "M or F", Required = true };
        var birthPlace = new Option<string?>("--birth-place") { Description = "INSEE code of the birth place" };
        var (insi, document, checkedOn, doubtful) = IdentityOptions();
        var patientAdd = new Command("add", "register a patient with strict identity traits; without --insi-recovered/--document the INS is taken as sent by whoever qualified the identity (the RNIV lets only a qualified identity carry its INS)")
        {
            ins, insSystem, pFamily, pGiven, birthDate, sex, birthPlace, insi, document, checkedOn, doubtful,
        };
        patientAdd.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            if (!DateOnly.TryParseExact(pr.GetValue(birthDate), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var bd))
            {
                throw DmpException.Invalid($"--birth-date must be YYYY-MM-DD, got '{pr.GetValue(birthDate)}'");
            }

            var system = InsSystem(pr.GetValue(insSystem)) ?? Ins.NirSystem;
            var evidence = Evidence(pr, insi, document, checkedOn, doubtful);
            var p = await sp.GetRequiredService<RecordService>().AddPatientAsync(new NewPatient(pr.GetValue(ins)!, system, pr.GetValue(pFamily)!, pr.GetValue(pGiven)!, bd, pr.GetValue(sex)!.ToUpperInvariant(), pr.GetValue(birthPlace), Evidence: evidence), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Patient {p.Family} {p.Given} registered (INS {p.Ins}, Patient/{p.RecordId}), {IdentityVigilance.Display(p.IdentityStatus).ToLowerInvariant()} ({IdentityVigilance.Code(p.IdentityStatus)}). Open the record with 'record open'.");
        }, ct)));
        var aIns = new Option<string>("--ins") { Description = "INS of the patient (or Patient id)", Required = true };
        var aSystem = LookupSystem();
        var aEmail = new Option<string?>("--email") { Description = "the patient's e-mail address" };
        var activation = new Command("activation", "issue a new one-time activation code for the patient's account (the previous one stops working)") { aIns, aSystem, aEmail };
        activation.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var patient = await sp.GetRequiredService<RecordService>().RequirePatientAsync(pr.GetValue(aIns)!, ct, InsSystem(pr.GetValue(aSystem)));
            var code = await sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.RecordId, pr.GetValue(aEmail), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Code d'activation / activation code for {patient.Family} {patient.Given}: {code}");
        }, ct)));
        var letter = new Command("opening-letter", "issue the code of the letter the insurer mails to a registered patient so that they can open their record online (/patient/ouvrir); the previous code stops working") { aIns, aSystem };
        letter.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var patient = await sp.GetRequiredService<RecordService>().RequirePatientAsync(pr.GetValue(aIns)!, ct, InsSystem(pr.GetValue(aSystem)));
            var code = await sp.GetRequiredService<OpenDmp.Core.Patients.InsurerLetterProof>().IssueAsync(patient.RecordId, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Code du courrier d'ouverture en ligne / online opening letter code for {patient.Family} {patient.Given}: {code} (one use, valid {OpenDmp.Core.Patients.InsurerLetterProof.Lifetime.TotalDays:0} days; mail it to the patient's postal address).");
        }, ct)));
        root.Subcommands.Add(new Command("patient", "patients") { patientAdd, activation, letter, IdentityCommand(c) });
        root.Subcommands.Add(IdentityVigilanceCommand(c));
        root.Subcommands.Add(StudyCommand(c));
    }

    /// <summary>representative add | activation | revoke | list.</summary>
    private static void AddRepresentative(RootCommand root, Cli c)
    {
        // representative add | activation | revoke | list
        var repIns = new Option<string>("--ins") { Description = "INS of the represented patient (or Patient id)", Required = true };
        var repSystem = LookupSystem();
        var repName = new Option<string>("--name") { Description = "the representative's name", Required = true };
        var repRelationship = new Option<string>("--relationship") { Description = "parent | guardian", Required = true };
        var repEmail = new Option<string?>("--email") { Description = "the representative's e-mail address" };
        var repUntil = new Option<string?>("--until") { Description = "YYYY-MM-DD: end of the representation (a minor's 18th birthday, end of a guardianship)" };
        var repAdd = new Command("add", "register a legal representative of a patient; prints the sign-in identifier and activation code") { repIns, repSystem, repName, repRelationship, repEmail, repUntil };
        repAdd.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            DateTimeOffset? until = null;
            if (pr.GetValue(repUntil) is { } u)
            {
                until = DateOnly.TryParseExact(u, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                    ? new DateTimeOffset(d.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero)
                    : throw DmpException.Invalid($"--until must be YYYY-MM-DD, got '{u}'");
            }

            var patient = await sp.GetRequiredService<RecordService>().RequirePatientAsync(pr.GetValue(repIns)!, ct, InsSystem(pr.GetValue(repSystem)));
            var (id, code) = await sp.GetRequiredService<PatientAuthService>().AddRepresentativeAsync(patient.RecordId, pr.GetValue(repName), pr.GetValue(repRelationship), pr.GetValue(repEmail), until, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Représentant légal / legal representative {id} of Patient/{patient.RecordId}. Code d'activation / activation code: {code}");
        }, ct)));
        var repId = new Option<string>("--id") { Description = "the representative's identifier (RL-…)", Required = true };
        var repActivation = new Command("activation", "issue a new one-time activation code for a legal representative") { repId };
        repActivation.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var code = await sp.GetRequiredService<PatientAuthService>().IssueRepresentativeActivationAsync(pr.GetValue(repId)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Code d'activation / activation code: {code}");
        }, ct)));
        var repRevoke = new Command("revoke", "end a legal representation now (its sessions end at once)") { repId };
        repRevoke.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            await sp.GetRequiredService<PatientAuthService>().RevokeRepresentativeAsync(pr.GetValue(repId)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Représentation terminée / representation ended: {pr.GetValue(repId)!.ToUpperInvariant()}");
        }, ct)));
        var repList = new Command("list", "list a patient's legal representatives") { repIns, repSystem };
        repList.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var patient = await sp.GetRequiredService<RecordService>().RequirePatientAsync(pr.GetValue(repIns)!, ct, InsSystem(pr.GetValue(repSystem)));
            var now = sp.GetRequiredService<TimeProvider>().GetUtcNow();
            foreach (var r in await sp.GetRequiredService<PatientAuthService>().RepresentativesAsync(patient.RecordId, ct))
            {
                var state = r.RevokedAt is not null ? "revoked" : !r.ActiveAt(now) ? "ended" : r.ActivatedAt is null ? "not activated" : "active";
                await c.Out.WriteLineAsync($"{r.Id}\t{r.Relationship}\t{r.DisplayName}\t{state}\t{(r.ValidUntil is { } v ? v.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "-")}");
            }
        }, ct)));
        root.Subcommands.Add(new Command("representative", "legal representatives of patients (parents of minors, guardians)") { repAdd, repActivation, repRevoke, repList });
    }

    /// <summary>group add.</summary>
    private static void AddGroup(RootCommand root, Cli c)
    {
        // group add
        var gName = new Option<string>("--name") { Description = "name of the group (maison de santé, network, health centre)", Required = true };
        var gKind = new Option<string>("--kind") { Description = "msp | network | health-centre", Required = true };
        var gMembers = new Option<string[]>("--member") { Description = "RPPS of a member (repeat)", Required = true, AllowMultipleArgumentsPerToken = true };
        var groupAdd = new Command("add", "declare a group practice and its members") { gName, gKind, gMembers };
        groupAdd.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var group = await sp.GetRequiredService<DirectoryService>().AddGroupAsync(pr.GetValue(gName)!, pr.GetValue(gKind)!, pr.GetValue(gMembers)!, ct);
            await c.Out.WriteLineAsync($"Group {group.Name} declared: Group/{group.Id} ({pr.GetValue(gMembers)!.Length} member(s)).");
        }, ct)));
        root.Subcommands.Add(new Command("group", "group practices") { groupAdd });
    }

    /// <summary>record open | close | reopen | treating-physician.</summary>
    private static void AddRecord(RootCommand root, Cli c)
    {
        // record open / close / reopen / treating-physician
        var rIns = new Option<string>("--ins") { Description = "INS of the patient (or Patient id)", Required = true };
        var rSystem = LookupSystem();
        var treating = new Option<string?>("--treating-physician") { Description = "RPPS of the treating physician (médecin traitant)" };
        var collector = new Option<string>("--consent-collected-by") { Description = "RPPS of the professional who collected the patient's consent", Required = true };
        var channel = new Option<string>("--channel") { Description = "office | hospital | counter | online", Required = true };
        var openEmail = new Option<string?>("--email") { Description = "the patient's e-mail address (for the activation code and notifications)" };
        var notice = new Option<string?>("--information-notice") { Description = $"version of the information notice the patient was shown (default: the current one, {OpenDmp.Core.Records.InformationNotice.Current.Version})" };
        var open = new Command("open", "open a patient's record with their express consent (collected by a professional, after the information notice); prints the patient's account activation code") { rIns, rSystem, treating, collector, channel, openEmail, notice };
        open.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var ch = pr.GetValue(channel) switch
            {
                "office" => OpeningChannel.Office,
                "hospital" => OpeningChannel.Hospital,
                "counter" => OpeningChannel.Counter,
                "online" => OpeningChannel.Online,
                var s => throw DmpException.Invalid($"--channel must be office, hospital, counter or online, got '{s}'"),
            };
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(rIns)!, ct, InsSystem(pr.GetValue(rSystem)));
            await records.OpenAsync(patient.RecordId, new OpeningConsent(ch, pr.GetValue(notice) ?? OpenDmp.Core.Records.InformationNotice.Current.Version, ExpressConsent: true, pr.GetValue(collector), pr.GetValue(treating)), Actor.Operator, Channels.Admin, ct);
            var code = await sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.RecordId, pr.GetValue(openEmail), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Record of {patient.Family} {patient.Given} opened.");
            await c.Out.WriteLineAsync($"Code d'activation du compte patient / patient account activation code: {code} (one use, valid {sp.GetRequiredService<PatientAuthOptions>().ActivationLifetime.TotalDays:0} days; give it to the patient).");
        }, ct)));
        var close = new Command("close", "close a patient's record") { rIns, rSystem };
        close.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(rIns)!, ct, InsSystem(pr.GetValue(rSystem)));
            await records.CloseAsync(patient.RecordId, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Record of {patient.Family} {patient.Given} closed: its data is kept, no professional can read or write it.");
        }, ct)));
        var reopen = new Command("reopen", "reopen a closed record") { rIns, rSystem };
        reopen.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(rIns)!, ct, InsSystem(pr.GetValue(rSystem)));
            await records.ReopenAsync(patient.RecordId, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Record of {patient.Family} {patient.Given} reopened.");
        }, ct)));
        var tpRpps = new Option<string>("--rpps") { Description = "RPPS of the new treating physician", Required = true };
        var setTreating = new Command("treating-physician", "set the treating physician of an open record") { rIns, rSystem, tpRpps };
        setTreating.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(rIns)!, ct, InsSystem(pr.GetValue(rSystem)));
            await records.SetTreatingPhysicianAsync(patient.RecordId, pr.GetValue(tpRpps)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Treating physician of {patient.Family} {patient.Given} set to RPPS {pr.GetValue(tpRpps)}.");
        }, ct)));
        var confirm = new Option<string>("--confirm") { Description = "the record id, typed again: destroying a record's data cannot be undone", Required = true };
        var shred = new Command("shred", "destroy a closed record's data key (end of retention): its documents, personal space and account can no longer be read, backups included; the audit trail stays") { rIns, rSystem, confirm };
        shred.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(rIns)!, ct, InsSystem(pr.GetValue(rSystem)));
            if (pr.GetValue(confirm) != patient.RecordId)
            {
                throw DmpException.Invalid($"--confirm must repeat the record id ({patient.RecordId}) to destroy its data");
            }

            await sp.GetRequiredService<OpenDmp.Core.Records.RecordRetention>().ShredAsync(patient.RecordId, Actor.Operator, Channels.Admin, "operator command", ct);
            await c.Out.WriteLineAsync($"Data key of record {patient.RecordId} destroyed: its content can no longer be read, also from backups restored later.");
        }, ct)));
        root.Subcommands.Add(new Command("record", "records: open, close, reopen, shred") { open, close, reopen, setTreating, shred });
    }

    /// <summary>keys rotate-master | retire-previous (docs/OPERATIONS.md).</summary>
    private static void AddKeys(RootCommand root, Cli c)
    {
        var rotate = new Command("rotate-master", "make a new master key (the current one is kept as previous) and re-wrap every record key and data-protection key under it; then restart every instance and run 'keys retire-previous'");
        rotate.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var file = CoreServices.MasterKeyFile(OpenDmpConfiguration.Build(Data(pr, c), c.Overrides), Data(pr, c));
            var (report, resealed) = await KeyStore.RotateAsync(sp, file, ct);
            await c.Out.WriteLineAsync($"New master key in {file} (the previous one is kept in {OpenDmp.Core.Content.MasterKeyRotation.PreviousOf(file)}): {report.Rewrapped} record key(s) and {resealed} data-protection key(s) re-wrapped.");
            await c.Out.WriteLineAsync("Restart every instance now (they keep wrapping new keys under the previous master key until then), then run 'opendmp keys retire-previous'.");
        }, ct)));
        var retire = new Command("retire-previous", "after every instance was restarted on the new master key: re-wrap the last keys still under the previous one, then delete it (refused if any key would be left unreadable)");
        retire.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var file = CoreServices.MasterKeyFile(OpenDmpConfiguration.Build(Data(pr, c), c.Overrides), Data(pr, c));
            var (report, resealed) = await KeyStore.RetirePreviousAsync(sp, file, ct);
            await c.Out.WriteLineAsync($"Previous master key deleted: {report.Rewrapped} record key(s) and {resealed} data-protection key(s) re-wrapped now, {report.Current} already under the current key. Back up the key store (keys/) now.");
        }, ct)));
        root.Subcommands.Add(new Command("keys", "the master key (key store)") { rotate, retire });
    }

    /// <summary>import fhir.</summary>
    private static void AddBackup(RootCommand root, Cli c)
    {
        var outDir = new Option<string>("--out") { Description = "a new, empty folder outside the data folder", Required = true };
        var backup = new Command("backup", "online backup of a SQLite installation (database snapshot, content, certification authority, audit anchors, configuration); the key store (keys/) is never in a backup: back it up on its own") { outDir };
        backup.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var report = await Backups.BackupAsync(Data(pr, c), sp, pr.GetValue(outDir)!, ct);
            await c.Out.WriteLineAsync($"Backup written to {Path.GetFullPath(pr.GetValue(outDir)!)}: {report.Documents} documents, {report.ContentFiles} content files ({report.Bytes / 1024.0 / 1024.0:F1} MB). The key store (keys/) is not in it.");
        }, ct)));
        var from = new Option<string>("--from") { Description = "the backup folder", Required = true };
        var force = new Option<bool>("--force") { Description = "replace the data folder's database (stop its server first; the current database is kept beside it)" };
        var restore = new Command("restore", "restore a backup into a data folder whose server is stopped; the key store already in the data folder is kept (records destroyed since the backup stay unreadable)") { from, force };
        restore.SetAction((pr, ct) => Guarded(c.Err, async () =>
        {
            var data = Data(pr, c);
            var kept = Backups.Restore(data, CoreServices.MasterKeyFile(OpenDmpConfiguration.Build(data, c.Overrides), data), pr.GetValue(from)!, pr.GetValue(force));
            await c.Out.WriteLineAsync($"Backup {Path.GetFullPath(pr.GetValue(from)!)} restored into {data.Root}." + (kept.Length > 0 ? $" The previous database is kept as {kept}." : string.Empty) + " Run 'opendmp audit verify' to check the audit chains.");
        }));
        root.Subcommands.Add(backup);
        root.Subcommands.Add(restore);
    }

    private static void AddImport(RootCommand root, Cli c)
    {
        // import fhir
        var files = new Argument<string[]>("files") { Description = "FHIR R4 JSON bundles (batch or transaction)", Arity = ArgumentArity.OneOrMore };
        var importFhir = new Command("fhir", "import FHIR R4 bundles (or single resources): organisations, practitioners, patients, documents, observations") { files };
        importFhir.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            foreach (var file in pr.GetValue(files)!)
            {
                if (!File.Exists(file))
                {
                    throw DmpException.Invalid($"file not found: {file}");
                }

                // A bundle, or a single resource (imported as a one-entry collection).
                var resource = FhirJson.Parse<Resource>(await File.ReadAllTextAsync(file, ct));
                var bundle = resource as Bundle ?? new Bundle { Type = Bundle.BundleType.Collection, Entry = [new Bundle.EntryComponent { FullUrl = $"{resource.TypeName}/{resource.Id}", Resource = resource }] };
                ImportReport? report = null;
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(c.Out) });
                await console.Progress().AutoClear(false).StartAsync(async progressCtx =>
                {
                    var task = progressCtx.AddTask(Path.GetFileName(file), maxValue: Math.Max(1, bundle.Entry.Count));
                    using var scope = sp.CreateScope();
                    var importer = scope.ServiceProvider.GetRequiredService<FhirImporter>();
                    report = await importer.ImportAsync(bundle, Actor.Operator, new Progress<int>(n => task.Value = n), ct);
                    task.Value = task.MaxValue;
                });
                await c.Out.WriteLineAsync($"{Path.GetFileName(file)}: {report}");
            }
        }, ct)));
        root.Subcommands.Add(new Command("import", "bulk imports") { importFhir, DirectoryImportCommand(c) });
    }

    /// <summary>terminology import | list.</summary>
    private static void AddTerminology(RootCommand root, Cli c)
    {
        var files = new Argument<string[]>("files") { Description = "ANS publications: FHIR R4 ValueSet / CodeSystem JSON files (or Bundles of them)", Arity = ArgumentArity.OneOrMore };
        var import = new Command("import", "load newer ANS terminology publications (value sets, code systems, concept maps) without a new release (idempotent, versioned, audited); the previous versions stay readable") { files };
        import.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            foreach (var file in pr.GetValue(files)!)
            {
                if (!File.Exists(file))
                {
                    throw DmpException.Invalid($"file not found: {file}");
                }

                if (new FileInfo(file).Length > OpenDmp.Core.Terminologies.TerminologyJson.MaxBytes)
                {
                    throw DmpException.Invalid($"{file}: larger than {OpenDmp.Core.Terminologies.TerminologyJson.MaxBytes} bytes");
                }

                var importer = sp.GetRequiredService<OpenDmp.Core.Terminologies.TerminologyImporter>();
                foreach (var result in await importer.ImportAsync(await File.ReadAllTextAsync(file, ct), Path.GetFileName(file), Actor.Operator, Channels.Admin, ct))
                {
                    await c.Out.WriteLineAsync($"{Path.GetFileName(file)}: {result}");
                }
            }

            await c.Out.WriteLineAsync($"Running servers put the new versions in force within {OpenDmp.Core.Terminologies.TerminologyCatalog.RefreshInterval.TotalSeconds:0} s.");
        }, ct)));

        var list = new Command("list", "list the value sets and code systems in force, with their version and origin (shipped or imported)");
        list.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var catalog = sp.GetRequiredService<OpenDmp.Core.Terminologies.TerminologyCatalog>();
            await catalog.RefreshAsync(force: true, ct);
            var set = catalog.Current;
            foreach (var r in set.All.OrderBy(r => r.ResourceType, StringComparer.Ordinal).ThenBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Origin.Sequence))
            {
                await c.Out.WriteLineAsync($"{r.ResourceType,-10} {r.Name,-45} {r.Version,-16} {(set.InForce(r) ? "in force" : "superseded"),-10} {r.Origin.Kind}");
            }
        }, ct)));
        root.Subcommands.Add(new Command("terminology", "ANS terminologies (JDV value sets, TRE code systems)") { import, list });
    }

    /// <summary>alerts requeue: record events set aside after repeated dispatch failures go back to the queue.</summary>
    private static void AddAlerts(RootCommand root, Cli c)
    {
        var requeue = new Command("requeue", "put back in the dispatcher's queue the record events set aside after repeated failures (record_events.failed_at), once their cause is fixed");
        requeue.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var n = await sp.GetRequiredService<OpenDmp.Core.Alerts.AlertService>().RequeueFailedAsync(ct);
            await c.Out.WriteLineAsync($"{n} event(s) requeued.");
        }, ct)));
        root.Subcommands.Add(new Command("alerts", "the alert dispatcher's queue") { requeue });
    }

    /// <summary>audit verify | checkpoint | verify-proof.</summary>
    private static void AddAudit(RootCommand root, Cli c)
    {
        // audit verify / checkpoint / verify-proof
        var verifyCert = new Option<string?>("--certificate") { Description = "the audit verification certificates (PEM, public parts; one file may hold the current and retired signers) to trust; default: Audit:VerificationCertificateFile, else the signing certificate and the retired ones" };
        var verify = new Command("verify", "recompute every audit chain and check the signed checkpoints and the anchor file; reports the first broken entry of each chain") { verifyCert };
        verify.SetAction((pr, ct) => Guarded(c.Err, async () =>
        {
            var exit = 0;
            await WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
            {
                var trusted = pr.GetValue(verifyCert) is { } file ? LoadCertificates(file) : sp.GetRequiredService<AuditKeys>().Verifiers();
                var report = await sp.GetRequiredService<AuditVerifier>().VerifyAsync(trusted, ct);
                await c.Out.WriteLineAsync($"{report.Entries} entries in {report.Chains} chains, {report.Checkpoints} signed checkpoints checked ({report.Anchored} in the anchor file).");
                foreach (var p in report.Problems)
                {
                    await c.Out.WriteLineAsync($"BROKEN chain {p.Chain}, entry {p.Seq}: {p.What}");
                }

                await c.Out.WriteLineAsync(report.Intact ? "The audit trail is intact." : $"The audit trail is NOT intact: {report.Problems.Count} problem(s).");
                exit = report.Intact ? 0 : 4;
            }, ct);
            return exit;
        }));
        var checkpoint = new Command("checkpoint", "write a signed checkpoint over all audit chain heads now");
        checkpoint.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var cp = await sp.GetRequiredService<AuditVerifier>().CheckpointAsync(ct);
            await c.Out.WriteLineAsync(cp is null ? "Nothing to checkpoint: the trail is empty." : $"Checkpoint {cp.Id} signed over {cp.Heads.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length} chains.");
        }, ct)));
        var proofFile = new Argument<string>("file") { Description = "a proof downloaded by the patient (GET /fhir/Patient/[id]/$audit-proof, or the portal's history page)" };
        var proofCert = new Option<string?>("--certificate") { Description = "the platform's audit certificate (PEM) to trust instead of the one in the proof" };
        var verifyProof = new Command("verify-proof", "check a patient's audit proof offline: every hash, the chain links, the Merkle path and the checkpoint's signature") { proofFile, proofCert };
        verifyProof.SetAction((pr, ct) => Guarded(c.Err, async () =>
        {
            var file = pr.GetValue(proofFile)!;
            if (!File.Exists(file))
            {
                throw DmpException.Invalid($"file not found: {file}");
            }

            using var trusted = pr.GetValue(proofCert) is { } certFile ? LoadCertificate(certFile) : null;
            var result = AuditProofs.Verify(await File.ReadAllTextAsync(file, ct), trusted);
            foreach (var line in result.Lines)
            {
                await c.Out.WriteLineAsync(line);
            }

            return result.Valid ? 0 : 4;
        }));
        var rotate = new Command("rotate-signing-key", "replace the checkpoint signing key: a new key and certificate, the previous certificate kept so that older checkpoints still verify, the previous key deleted; a checkpoint is signed with the new key at once (restart the running instances)");
        rotate.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var keys = sp.GetRequiredService<AuditKeys>();
            (string Previous, System.Security.Cryptography.X509Certificates.X509Certificate2 Current) rotated;
            try
            {
                rotated = keys.RotateSigningKey(TimeProvider.System);
            }
            catch (InvalidOperationException ex)
            {
                throw DmpException.Invalid(ex.Message);
            }

            var cp = await sp.GetRequiredService<AuditVerifier>().CheckpointAsync(ct);
            await c.Out.WriteLineAsync($"Audit signing key replaced: {rotated.Previous} retired (its certificate kept in {keys.RetiredDirectory}), {rotated.Current.Thumbprint} signs from now on.");
            await c.Out.WriteLineAsync(cp is null ? "The trail is empty: no checkpoint to sign yet." : $"Checkpoint {cp.Id} signed with the new key. Restart the running instances so that they load it.");
        }, ct)));
        root.Subcommands.Add(new Command("audit", "audit trail") { verify, checkpoint, verifyProof, rotate });
    }

    private static DataDirectory Data(ParseResult pr, Cli c) => new(pr.GetValue(c.Data)!);

    /// <summary>--ins-system as an identifier system (null when not given).</summary>
    private static string? InsSystem(string? name) => name switch
    {
        null => null,
        "nir" => Ins.NirSystem,
        "nia" => Ins.NiaSystem,
        "test" => Ins.TestSystem,
        "demo" => Ins.DemoSystem,
        var s => throw DmpException.Invalid($"--ins-system must be nir, nia, test or demo, got '{s}'"),
    };

    /// <summary>The --ins-system of commands that find a patient by INS: needed only when the INS is registered under several systems.</summary>
    private static Option<string?> LookupSystem() => new("--ins-system") { Description = "system of --ins when the same INS is registered under several: nir, nia, test or demo" };

    /// <summary>Rewrites the CA's CRL after a revocation (the server also refreshes it).</summary>
    private static async System.Threading.Tasks.Task WriteCrlAsync(IServiceProvider sp, CancellationToken ct)
    {
        var data = sp.GetRequiredService<DataDirectory>();
        var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
        await sp.GetRequiredService<CertificateService>().WriteCrlAsync(ca, RevocationService.CrlPath(data), ct);
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2Collection LoadCertificates(string file)
    {
        if (!File.Exists(file))
        {
            throw DmpException.Invalid($"certificate file not found: {file}");
        }

        var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        certificates.ImportFromPemFile(file);
        return certificates.Count > 0 ? certificates : throw DmpException.Invalid($"{file} holds no PEM certificate");
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(string file) =>
        File.Exists(file)
            ? System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(file)
            : throw DmpException.Invalid($"certificate file not found: {file}");

    private static Task<int> Guarded(TextWriter stderr, Func<System.Threading.Tasks.Task> action) =>
        Guarded(stderr, async () =>
        {
            await action();
            return 0;
        });

    private static async Task<int> Guarded(TextWriter stderr, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (DmpException ex)
        {
            await stderr.WriteLineAsync("error: " + ex.Message);
            return ex.Kind == ErrorKind.Conflict ? 3 : 2;
        }
        catch (Exception ex) when (ex is DbUpdateException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Runs an administration action against an existing data folder (migrating its database first).
    /// A folder that does not exist is refused: a mistyped --data must not quietly create an empty
    /// platform (only 'init' and 'serve' create one).
    /// </summary>
    private static async System.Threading.Tasks.Task WithServicesAsync(DataDirectory data, IDictionary<string, string?>? overrides, Func<IServiceProvider, System.Threading.Tasks.Task> action, CancellationToken ct)
    {
        if (!System.IO.Directory.Exists(data.Root))
        {
            throw DmpException.Invalid($"the data folder {data.Root} does not exist: check --data, or create it with 'opendmp init --data {data.Root}' (or by running 'opendmp serve' once)");
        }

        data.Ensure();
        var config = OpenDmpConfiguration.Build(data, overrides);
        var services = new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider();
        await using (services)
        {
            await CoreServices.MigrateAsync(services, ct);
            using var scope = services.CreateScope();
            await action(scope.ServiceProvider);
        }
    }

    private static async System.Threading.Tasks.Task ServeAsync(DataDirectory data, IDictionary<string, string?>? overrides, string urls, bool demo, TextWriter stdout, CancellationToken ct)
    {
        data.Ensure();
        var config = OpenDmpConfiguration.Build(data, overrides);
        var app = OpenDmpHost.Build(data, config, urls.Split(';', StringSplitOptions.RemoveEmptyEntries));
        await OpenDmpHost.PrepareAsync(data, app.Services, ct);
        DemoWorld.Summary? summary = null;
        if (demo)
        {
            summary = await DemoWorld.EnsureAsync(app.Services, data, ct);
        }

        await app.StartAsync(ct);
        var url = app.Urls.First();
        await stdout.WriteLineAsync($"""

            OpenDMP is serving on {string.Join(", ", app.Urls)}
              Patient portal ...... {url}/patient
              Professional portal . {url}/pro   (with a professional's client certificate; the page explains how to import one)
              FHIR API ............ {url}/fhir   (CapabilityStatement: {url}/fhir/metadata)
              Certification authority (trust it, and issue client certificates from it): {data.CaCertificate}
            """);
        if (summary is not null)
        {
            await stdout.WriteLineAsync(summary.Describe(url, data));
        }

        await stdout.WriteLineAsync("Press Ctrl+C to stop.");
        await app.WaitForShutdownAsync(ct);
    }
}
