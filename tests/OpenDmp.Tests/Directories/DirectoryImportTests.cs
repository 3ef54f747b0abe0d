using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using static OpenDmp.Tests.Directories.NationalExtracts;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Directories;

/// <summary>
/// <c>opendmp import directory</c> on files in the national extractions' published layouts: FINESS
/// (latin-1, Lambert-93 positions) then RPPS (professionals and activities, placed by their site or
/// their commune); a re-import changes, removes and brings back entries without duplicating any; a
/// truncated extraction cannot empty the directory.
/// </summary>
public abstract class DirectoryImportTests(IStorageUnderTest storage) : ServerTestBase(storage), IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "opendmp-extracts-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, true);
        }
    }

    private string File(string name)
    {
        Directory.CreateDirectory(_dir);
        return Path.Combine(_dir, name);
    }

    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    /// <summary>The command's output says this (the whole output shown when not).</summary>
    private static void Says(string output, string expected) => Assert.True(output.Contains(expected, StringComparison.Ordinal), $"expected «{expected}» in:\n{output}");

    private Task<T> DbAsync<T>(Func<DmpDbContext, Task<T>> query) => Server.WithScopeAsync(sp => query(sp.GetRequiredService<DmpDbContext>()));

    private static readonly FinessSite PharmacyLyon = new("690012345", "PHARMACIE DE LA REPUBLIQUE", "69003", "69", "383", "LYON", Lyon3);
    private static readonly FinessSite HospitalVilleurbanne = new("690023456", "CENTRE HOSPITALIER DE VILLEURBANNE", "69100", "69", "266", "VILLEURBANNE", Villeurbanne, "355", "Centre Hospitalier (C.H.)");
    private static readonly FinessSite PharmacyVienne = new("380034567", "PHARMACIE DU RHONE", "38200", "38", "544", "VIENNE", Vienne);
    private static readonly FinessSite ClinicGrenoble = new("380045678", "CLINIQUE DES ALPES GRENOBLOISES", "38000", "38", "185", "GRENOBLE", Grenoble, "365", "Etablissement de Soins Pluridisciplinaire");
    private static readonly FinessSite HealthCentreAbymes = new("970012345", "CENTRE DE SANTE DES ABYMES", "97139", "9A", "101", "LES ABYMES", null, "124", "Centre de Santé");

    [Fact]
    public async Task FinessThenRpps_AreImported_Placed_AndAReimportUpdatesRemovesAndBringsBack()
    {
        // FINESS: five establishments (one overseas, without a position), a corrupt record, a position of an unknown establishment.
        var finess = File("etalab-cs1100507-stock-20261120-0336.csv");
        WriteFiness(finess, [PharmacyLyon, HospitalVilleurbanne, PharmacyVienne, ClinicGrenoble, HealthCentreAbymes],
            ["structureet;12;;SANS NUMERO;;;", "geolocalisation;990000000;870262.2;6571540.8;1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;2024-01-02"]);
        var (code, output) = await CliAsync("import", "directory", "--finess", finess);
        Assert.True(code == 0, output);
        Says(output, "establishments 5 added, 0 updated, 0 unchanged, 0 reactivated, 0 deactivated");
        Says(output, "2 line(s) rejected");

        var hospital = await DbAsync(db => db.Organizations.AsNoTracking().SingleAsync(o => o.Finess == HospitalVilleurbanne.Finess));
        Assert.Equal(("CENTRE HOSPITALIER DE VILLEURBANNE", "69100", "69266", "VILLEURBANNE", "69", "355", "Centre Hospitalier (C.H.)", "690000000"),
            (hospital.Name, hospital.PostalCode, hospital.CommuneCode, hospital.City, hospital.DepartmentCode, hospital.TypeCode, hospital.TypeLabel, hospital.FinessLegalEntity));
        Assert.True(hospital.PositionExact);
        Assert.True(Geo.DistanceKm(new GeoPoint(hospital.Latitude!.Value, hospital.Longitude!.Value), Villeurbanne) < 0.01, "Lambert-93 read back to within 10 m");
        var abymes = await DbAsync(db => db.Organizations.AsNoTracking().SingleAsync(o => o.Finess == HealthCentreAbymes.Finess));
        Assert.Equal(("97101", "971", "97139", "LES ABYMES", false, (double?)null), (abymes.CommuneCode, abymes.DepartmentCode, abymes.PostalCode, abymes.City, abymes.PositionExact, abymes.Latitude));

        // RPPS: four professionals, five activities, one line whose RPPS check digit is wrong.
        var martin = new RppsPerson(TestIds.NewRpps(), "MARTIN", "Claire");
        var durandHospital = new RppsPerson(TestIds.NewRpps(), "DURAND", "Paul", SkillCode: "SM04", SkillLabel: "Cardiologie et maladies vasculaires", Mode: "S",
            SiteFiness: HospitalVilleurbanne.Finess, StructureId: "F690023456", SiteName: HospitalVilleurbanne.Name, PostalCode: "69100", CommuneCode: "69266", City: "Villeurbanne");
        var durandOffice = durandHospital with { Mode = "L", SiteFiness = null, StructureId = "R10100000000002", SiteName = "CABINET DE CARDIOLOGIE", PostalCode = "69003", CommuneCode = "69383", City = "Lyon 3e Arrondissement" };
        var petit = new RppsPerson(TestIds.NewRpps(), "PETIT", "Anne", Profession: "60", SkillCode: null, SkillLabel: null, Civility: "MME", StructureId: "R10100000000003",
            PostalCode: "38200", CommuneCode: "38544", City: "Vienne");
        var leroy = new RppsPerson(TestIds.NewRpps(), "LEROY", "Jean", StructureId: "R10100000000004", PostalCode: "38000", CommuneCode: "38185", City: "Grenoble");
        var bad = RppsLine(new RppsPerson("10000000010", "FAUX", "Numéro"));
        var rpps = File("PS_LibreAcces_Personne_activite_202611200000.txt");
        WriteRpps(rpps, [martin, durandHospital, durandOffice, petit, leroy], [bad]);
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.True(code == 0, output);
        Says(output, "6 records: professionals 4 added, 0 updated, 0 unchanged, 0 reactivated, 0 deactivated; activities 5 added, 0 updated, 0 ended");
        Says(output, "1 line(s) rejected (line 7: the RPPS check digit of 10000000010 is wrong");

        var durand = await DbAsync(db => db.Professionals.AsNoTracking().SingleAsync(p => p.Rpps == durandHospital.Rpps));
        Assert.Equal(("DURAND", "Paul", "Dr", "10", "SM04", "Cardiologie et maladies vasculaires", "rpps"), (durand.Family, durand.Given, durand.Prefix, durand.ProfessionCode, durand.SpecialtyCode, durand.SpecialtyDisplay, durand.Source));
        var activities = await DbAsync(db => db.PractitionerActivities.AsNoTracking().Where(a => a.ProfessionalId == durand.Id).OrderBy(a => a.PracticeMode).ToListAsync());
        Assert.Equal(2, activities.Count);
        var (office, atHospital) = (activities[0], activities[1]);
        Assert.Equal(("L", "69003", "69383", "69", "12 Rue de la République", "CABINET DE CARDIOLOGIE"), (office.PracticeMode, office.PostalCode, office.CommuneCode, office.DepartmentCode, office.AddressLine, office.SiteName));
        // At the hospital: the hospital's own position; at the office: the commune's (learnt from the Lyon pharmacy).
        Assert.True(atHospital.PositionExact);
        Assert.Equal((hospital.Latitude, hospital.Longitude), (atHospital.Latitude, atHospital.Longitude));
        Assert.False(office.PositionExact);
        Assert.True(Geo.DistanceKm(new GeoPoint(office.Latitude!.Value, office.Longitude!.Value), Lyon3) < 0.01);

        // The same extraction again: nothing written.
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.True(code == 0, output);
        Says(output, "professionals 0 added, 0 updated, 4 unchanged, 0 reactivated, 0 deactivated; activities 0 added, 0 updated, 0 ended");

        // The next month: MARTIN changes name, DURAND leaves his office, LEROY leaves the directory, BERNARD arrives.
        var bernard = new RppsPerson(TestIds.NewRpps(), "BERNARD", "Louis", Profession: "70", SkillCode: null, SkillLabel: null, StructureId: "R10100000000005");
        WriteRpps(rpps, [martin with { Family = "MARTIN-DUBOIS" }, durandHospital, petit, bernard]);
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.True(code == 0, output);
        Says(output, "professionals 1 added, 1 updated, 2 unchanged, 0 reactivated, 1 deactivated; activities 1 added, 0 updated, 2 ended");
        var renamed = await DbAsync(db => db.Professionals.AsNoTracking().Where(p => p.Rpps == martin.Rpps).ToListAsync());
        Assert.Equal("MARTIN-DUBOIS", Assert.Single(renamed).Family);
        var gone = await DbAsync(db => db.Professionals.AsNoTracking().SingleAsync(p => p.Rpps == leroy.Rpps));
        Assert.True(gone.DeactivatedAt is not null && gone.DeactivatedByImport);
        Assert.Equal(1, await DbAsync(db => db.PractitionerActivities.CountAsync(a => a.ProfessionalId == durand.Id && a.EndedAt == null)));

        // LEROY is listed again: reactivated, the same entry (no duplicate), his activity open again.
        WriteRpps(rpps, [martin with { Family = "MARTIN-DUBOIS" }, durandHospital, petit, bernard, leroy]);
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.True(code == 0, output);
        Says(output, "professionals 0 added, 0 updated, 4 unchanged, 1 reactivated, 0 deactivated; activities 0 added, 1 updated, 0 ended");
        var back = await DbAsync(db => db.Professionals.AsNoTracking().SingleAsync(p => p.Rpps == leroy.Rpps));
        Assert.Equal((gone.Id, (DateTimeOffset?)null), (back.Id, back.DeactivatedAt));
        Assert.Equal(5, await DbAsync(db => db.Professionals.CountAsync(p => p.Source == "rpps")));

        // FINESS again without the Vienne pharmacy (closed): deactivated; PETIT's Vienne activity has no known position any more.
        WriteFiness(finess, [PharmacyLyon, HospitalVilleurbanne, ClinicGrenoble, HealthCentreAbymes]);
        (code, output) = await CliAsync("import", "directory", "--finess", finess);
        Assert.True(code == 0, output);
        Says(output, "establishments 0 added, 0 updated, 4 unchanged, 0 reactivated, 1 deactivated");
        var petitActivity = await DbAsync(db => (from a in db.PractitionerActivities join p in db.Professionals on a.ProfessionalId equals p.Id where p.Rpps == petit.Rpps select a).AsNoTracking().SingleAsync());
        Assert.Null(petitActivity.Latitude);

        // Every import is one entry of the platform's audit trail, with its counts.
        var imports = await DbAsync(db => db.AuditEntries.AsNoTracking().Where(e => e.RecordId == AuditTrail.SystemChain && e.Action == "import").Select(e => e.Detail).ToListAsync());
        Assert.Equal(6, imports.Count(d => d != null && (d.Contains("professionals", StringComparison.Ordinal) || d.Contains("establishments", StringComparison.Ordinal))));

        // A truncated extraction (10 of the 155 professionals) cannot empty the directory, unless the operator says so.
        var many = Enumerable.Range(0, 150).Select(i => new RppsPerson(TestIds.NewRpps(), $"NOM{i:D3}", "Prénom", StructureId: $"S{i:D6}")).ToList();
        var everyone = many.Concat([martin with { Family = "MARTIN-DUBOIS" }, durandHospital, petit, bernard, leroy]).ToList();
        WriteRpps(rpps, everyone);
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.True(code == 0, output);
        WriteRpps(rpps, everyone.Take(10));
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps);
        Assert.Equal(3, code);
        Says(output, "would deactivate 145 of the 155 professionals");
        Says(output, "--allow-mass-removal");
        Assert.Equal(155, await DbAsync(db => db.Professionals.CountAsync(p => p.Source == "rpps" && p.DeactivatedAt == null)));
        (code, output) = await CliAsync("import", "directory", "--rpps", rpps, "--allow-mass-removal");
        Assert.True(code == 0, output);
        Assert.Equal(10, await DbAsync(db => db.Professionals.CountAsync(p => p.Source == "rpps" && p.DeactivatedAt == null)));
    }

    [Fact]
    public async Task AFileThatIsNotTheExtraction_IsRefused_NamingWhatIsMissing()
    {
        var wrong = File("not-rpps.txt");
        await System.IO.File.WriteAllTextAsync(wrong, "Identifiant PP|Nom\n10000000017|X\n");
        var (code, output) = await CliAsync("import", "directory", "--rpps", wrong);
        Assert.Equal(2, code);
        Says(output, "no column 'Type d'identifiant PP'");

        await System.IO.File.WriteAllTextAsync(wrong, "structureet;010000024;\n");
        (code, output) = await CliAsync("import", "directory", "--finess", wrong);
        Assert.Equal(2, code);
        Says(output, "first line should describe it");
    }
}

public sealed class DirectoryImportTests_Sqlite() : DirectoryImportTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class DirectoryImportTests_Postgres(PostgresCluster pg) : DirectoryImportTests(new PostgresStorage(pg, "dirimport"));
