using Microsoft.EntityFrameworkCore;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Directory.Import;
using OpenDmp.Tests.Infrastructure;
using static OpenDmp.Tests.Directories.NationalExtracts;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Directories;

/// <summary>
/// The directory searched by specialty, postal code and distance: in the core, as IHE mCSD
/// (PractitionerRole with location.near, Location with near, nearest first, the distance given), and
/// in the portal's page with its map of the départements, drawn in Chromium with no network and
/// checked by axe.
/// </summary>
public abstract class DirectorySearchTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private static readonly FinessSite PharmacyLyon = new("690012345", "PHARMACIE DE LA REPUBLIQUE", "69003", "69", "383", "LYON", Lyon3);
    private static readonly FinessSite HospitalVilleurbanne = new("690023456", "CENTRE HOSPITALIER DE VILLEURBANNE", "69100", "69", "266", "VILLEURBANNE", Villeurbanne, "355", "Centre Hospitalier (C.H.)");
    private static readonly FinessSite PharmacyVienne = new("380034567", "PHARMACIE DU RHONE", "38200", "38", "544", "VIENNE", Vienne);
    private static readonly FinessSite ClinicGrenoble = new("380045678", "CLINIQUE DES ALPES", "38000", "38", "185", "GRENOBLE", Grenoble, "365", "Etablissement de Soins Pluridisciplinaire");

    private static readonly string CardioLyonRpps = TestIds.NewRpps();
    private static readonly string CardioVilleurbanneRpps = TestIds.NewRpps();

    private static RppsPerson Cardiologist(string rpps, string family, string postal, string commune, string city, string structure, string? finess = null) =>
        new(rpps, family, "Marie", SkillCode: "SM04", SkillLabel: "Cardiologie et maladies vasculaires", StructureId: structure, SiteFiness: finess,
            PostalCode: postal, CommuneCode: commune, City: city, SiteName: finess is null ? "CABINET DE CARDIOLOGIE" : "CENTRE HOSPITALIER DE VILLEURBANNE");

    private static readonly RppsPerson[] People =
    [
        Cardiologist(CardioLyonRpps, "AUBERT", "69003", "69383", "Lyon 3e Arrondissement", "S1"),
        Cardiologist(CardioVilleurbanneRpps, "BLANC", "69100", "69266", "Villeurbanne", "S2", HospitalVilleurbanne.Finess),
        Cardiologist(TestIds.NewRpps(), "CARON", "38200", "38544", "Vienne", "S3"),
        Cardiologist(TestIds.NewRpps(), "DUMAS", "38000", "38185", "Grenoble", "S4"),
        new(TestIds.NewRpps(), "ESTEVE", "Luc", StructureId: "S5"), // a GP in Lyon 3: not a cardiologist
        new(TestIds.NewRpps(), "LEFÈVRE-DUPRÉ", "Hélène", StructureId: "S6"), // another GP, as the extraction writes accents and hyphens
    ];

    private async Task ImportAsync()
    {
        await Server.WithScopeAsync(async sp =>
        {
            var importer = sp.GetRequiredService<DirectoryImporter>();
            var finess = new StringWriter();
            finess.WriteLine("finess;etalab;4;2026-11-20");
            foreach (var s in new[] { PharmacyLyon, HospitalVilleurbanne, PharmacyVienne, ClinicGrenoble })
            {
                finess.WriteLine(StructureLine(s));
            }

            foreach (var s in new[] { PharmacyLyon, HospitalVilleurbanne, PharmacyVienne, ClinicGrenoble })
            {
                finess.WriteLine(GeolocationLine(s));
            }

            await importer.ImportFinessAsync(new StringReader(finess.ToString()), new DirectoryImportOptions(), null, CancellationToken.None);
            var rpps = string.Join('\n', new[] { string.Join('|', RppsHeader) + "|" }.Concat(People.Select(RppsLine)));
            return await importer.ImportRppsAsync(new StringReader(rpps), new DirectoryImportOptions(), null, CancellationToken.None);
        });
    }

    [Fact]
    public async Task ByNameAndCity_CaseAccentsAndHyphensIgnored_OnBothDatabases()
    {
        await ImportAsync();
        async Task<string[]> FamiliesAsync(DirectoryCriteria c) => await Server.WithScopeAsync(async sp =>
            (await sp.GetRequiredService<DirectorySearch>().SearchAsync(c, 0, 20, CancellationToken.None)).Hits.Select(h => h.Professional.Family).ToArray());

        // SQLite's upper() knows only ASCII: the search keys make both databases answer alike.
        Assert.Equal(["LEFÈVRE-DUPRÉ"], await FamiliesAsync(new DirectoryCriteria(Name: "lefevre")));
        Assert.Equal(["LEFÈVRE-DUPRÉ"], await FamiliesAsync(new DirectoryCriteria(Name: "Dupré")));
        Assert.Equal(["LEFÈVRE-DUPRÉ"], await FamiliesAsync(new DirectoryCriteria(Name: "hélène")));
        Assert.Empty(await FamiliesAsync(new DirectoryCriteria(Name: "efevre"))); // the beginning of a word, not any substring
        Assert.Equal(["AUBERT"], await FamiliesAsync(new DirectoryCriteria(Name: "aub", City: "lyon-3e")));
        Assert.Equal(["BLANC"], await FamiliesAsync(new DirectoryCriteria(City: "VILLEURBANNE")));

        // Rows written before the keys existed (the column added empty) get them at the next start.
        var backfilled = await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>();
            await db.Database.ExecuteSqlRawAsync("UPDATE professionals SET search_name = ''");
            await db.Database.ExecuteSqlRawAsync("UPDATE practitioner_activities SET search_city = ''");
            return await OpenDmp.Core.Directory.SearchKeys.BackfillAsync(db, CancellationToken.None);
        });
        Assert.True(backfilled >= People.Length * 2, $"{backfilled} rows backfilled");
        Assert.Equal(["AUBERT"], await FamiliesAsync(new DirectoryCriteria(Name: "aub", City: "lyon-3e")));

        var gp = await Server.AddProfessionalAsync();
        var bundle = JsonNode.Parse(await Server.Http(gp.Certificate).GetStringAsync("/fhir/Practitioner?family=lefevre"))!;
        Assert.Equal("LEFÈVRE-DUPRÉ", (string?)bundle["entry"]![0]!["resource"]!["name"]![0]!["family"]);
        var sites = JsonNode.Parse(await Server.Http(gp.Certificate).GetStringAsync("/fhir/Organization?name=republique&address-city=lyon"))!;
        Assert.Equal("PHARMACIE DE LA REPUBLIQUE", (string?)sites["entry"]![0]!["resource"]!["name"]);
    }

    [Fact]
    public async Task BySpecialty_AroundAPostalCode_WithinADistance_NearestFirst_AsMcsd_AndInThePortalMap()
    {
        await ImportAsync();

        // The core: cardiologists within 10 km of 69003 (Lyon 3, then Villeurbanne at ~4 km); not Vienne (~26 km) nor Grenoble.
        var result = await Server.WithScopeAsync(async sp =>
        {
            var search = sp.GetRequiredService<DirectorySearch>();
            var centre = await search.CentreAsync("69003", CancellationToken.None);
            return await search.SearchAsync(new DirectoryCriteria(Specialty: "SM04", Around: centre, DistanceKm: 10), 0, 20, CancellationToken.None);
        });
        Assert.Equal(["AUBERT", "BLANC"], result.Hits.Select(h => h.Professional.Family));
        Assert.InRange(result.Hits[1].DistanceKm!.Value, 3, 6);
        Assert.Equal(2, result.ByDepartment["69"]);
        var wider = await Server.WithScopeAsync(async sp =>
        {
            var search = sp.GetRequiredService<DirectorySearch>();
            return await search.SearchAsync(new DirectoryCriteria(Specialty: "SM04", Around: await search.CentreAsync("Lyon", CancellationToken.None), DistanceKm: 50), 0, 20, CancellationToken.None);
        });
        Assert.Equal(["AUBERT", "BLANC", "CARON"], wider.Hits.Select(h => h.Professional.Family));

        // mCSD: PractitionerRole with location.near and a profession; the distance in each entry's search.
        var gp = await Server.AddProfessionalAsync();
        var http = Server.Http(gp.Certificate);
        var (lat, lon) = (Lyon3.Latitude.ToString(System.Globalization.CultureInfo.InvariantCulture), Lyon3.Longitude.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var bundle = JsonNode.Parse(await http.GetStringAsync($"/fhir/PractitionerRole?specialty=SM04&location.near={lat}|{lon}|10|km&_total=accurate"))!;
        Assert.Equal(2, (int)bundle["total"]!);
        var entries = bundle["entry"]!.AsArray();
        var blanc = entries[1]!["resource"]!;
        Assert.Equal("SM04", (string?)blanc["specialty"]![0]!["coding"]![0]!["code"]);
        Assert.StartsWith("Practitioner/", (string?)blanc["practitioner"]!["reference"], StringComparison.Ordinal);
        Assert.StartsWith("Organization/", (string?)blanc["organization"]!["reference"], StringComparison.Ordinal); // the hospital by its FINESS
        var distance = entries[1]!["search"]!["extension"]![0]!;
        Assert.Equal("http://hl7.org/fhir/StructureDefinition/location-distance", (string?)distance["url"]);
        Assert.InRange((double)distance["valueDistance"]!["value"]!, 3, 6);
        var location = JsonNode.Parse(await http.GetStringAsync("/fhir/" + (string?)blanc["location"]![0]!["reference"]))!;
        Assert.Equal("69100", (string?)location["address"]!["postalCode"]);
        Assert.InRange((double)location["position"]!["latitude"]!, 45.76, 45.78);

        // By postal code exactly, and Location near: the establishments nearest first.
        var exact = JsonNode.Parse(await http.GetStringAsync("/fhir/PractitionerRole?specialty=SM04&location.address-postalcode=38000"))!;
        Assert.Single(exact["entry"]!.AsArray());
        var sites = JsonNode.Parse(await http.GetStringAsync($"/fhir/Location?near={lat}|{lon}|30|km"))!["entry"]!.AsArray();
        Assert.Equal(["PHARMACIE DE LA REPUBLIQUE", "CENTRE HOSPITALIER DE VILLEURBANNE", "PHARMACIE DU RHONE"], sites.Select(e => (string?)e!["resource"]!["name"]));
        var pharmacies = JsonNode.Parse(await http.GetStringAsync("/fhir/Organization?type=620&address-city=VIENNE"))!["entry"]!.AsArray();
        Assert.Equal("PHARMACIE DU RHONE", (string?)Assert.Single(pharmacies)!["resource"]!["name"]);

        // Bad input is a 400 that says what is wrong.
        using var bad = await http.GetAsync("/fhir/PractitionerRole?location.near=45.7|4.8|500|km");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("between 0 and 200 km", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The portal's page: no sign-in (open data), no request leaves the server, the map and the list agree, axe passes.
        await using var context = await browser.ContextAsync(Server);
        var page = await context.NewPageAsync();
        var outside = new List<string>();
        await page.RouteAsync("**/*", async route =>
        {
            if (!route.Request.Url.StartsWith(Server.BaseUrl, StringComparison.Ordinal))
            {
                outside.Add(route.Request.Url);
                await route.AbortAsync();
                return;
            }

            await route.ContinueAsync();
        });
        await page.GotoAsync("/annuaire");
        await page.SelectOptionAsync("#dir-specialty", "SM04");
        await page.FillAsync("#dir-place", "69003");
        await page.SelectOptionAsync("#dir-distance", "50");
        await page.ClickAsync("form[role=search] button[type=submit]");
        await page.WaitForSelectorAsync("#dir-results");
        Assert.Equal("3 résultat(s)", (await page.InnerTextAsync("#dir-results")).Trim());
        var rows = await page.Locator("table tbody tr td:first-child").AllInnerTextsAsync();
        Assert.Equal(["Dr Marie AUBERT", "Dr Marie BLANC", "Dr Marie CARON"], rows);
        // Rhône (2) and Isère (1) are shaded, the others not; the département's title gives its count.
        Assert.Equal("#c6dbef", await page.GetAttributeAsync("svg.map path[data-dept='38']", "fill"));
        Assert.Equal("#08306b", await page.GetAttributeAsync("svg.map path[data-dept='69']", "fill"));
        Assert.Equal("#eef2f7", await page.GetAttributeAsync("svg.map path[data-dept='75']", "fill"));
        Assert.Equal("Rhône (69) : 2 résultat(s)", await page.Locator("svg.map path[data-dept='69'] title").TextContentAsync());
        Assert.Equal(96, await page.Locator("svg.map path").CountAsync());
        Assert.Empty(outside);
        await BrowserFixture.AssertAccessibleAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "directory-search");

        // A place the directory cannot locate is said so, in French.
        await page.GotoAsync("/annuaire?specialite=SM04&lieu=Atlantis&distance=10");
        Assert.Contains("ne connaît pas la position de « Atlantis »", await page.InnerTextAsync("p.error"), StringComparison.Ordinal);
    }
}

public sealed class DirectorySearchTests_Sqlite(BrowserFixture browser) : DirectorySearchTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class DirectorySearchTests_Postgres(PostgresCluster pg, BrowserFixture browser) : DirectorySearchTests(new PostgresStorage(pg, "dirsearch"), browser), IClassFixture<BrowserFixture>;
