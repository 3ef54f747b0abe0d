using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Directory.Import;
using OpenDmp.Core.Identity;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 19: the national directory import rate. Writes an RPPS extraction of N lines in the
/// published layout (professionals with one to three activities) and a FINESS extraction with its
/// geolocation records, then imports FINESS, RPPS, and RPPS again (nothing changed: the idempotent
/// path) into a fresh database. The physical reference is the same file read and split alone.
/// </summary>
internal static class DirectoryBench
{
    private static readonly string[] Header = [.. RppsExtract.PublishedColumns];

    public static async Task RunAsync(int lines, string? postgres)
    {
        var dir = Path.Combine(Path.GetTempPath(), "opendmp-dirbench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var establishments = Math.Max(1000, lines / 10);
        var rppsFile = Path.Combine(dir, "PS_LibreAcces_Personne_activite_bench.txt");
        var finessFile = Path.Combine(dir, "etalab-cs1100507-stock-bench.csv");
        var watch = Stopwatch.StartNew();
        WriteFiness(finessFile, establishments);
        var people = WriteRpps(rppsFile, lines, establishments);
        Console.WriteLine($"# Directory import — {(postgres is null ? "SQLite" : "PostgreSQL")}: RPPS {lines:N0} lines ({people:N0} professionals, {new FileInfo(rppsFile).Length / 1e6:F0} MB), FINESS {establishments:N0} establishments; files written in {watch.Elapsed.TotalSeconds:F1} s");

        // The physical reference: the same file read and split, nothing written.
        watch.Restart();
        using (var reader = new StreamReader(rppsFile, Encoding.UTF8))
        {
            var n = RppsExtract.Read(reader).Count();
            Console.WriteLine($"read and split alone: {n:N0} lines in {watch.Elapsed.TotalSeconds:F1} s = {n / watch.Elapsed.TotalSeconds:N0} lines/s");
        }

        var readRate = lines / watch.Elapsed.TotalSeconds;
        var data = new DataDirectory(Path.Combine(dir, "data"));
        data.Ensure();
        var overrides = new Dictionary<string, string?>();
        if (postgres is not null)
        {
            overrides["Database:Provider"] = "Postgres";
            overrides["Database:ConnectionString"] = postgres;
        }

        var services = new ServiceCollection().AddLogging().AddOpenDmpCore(OpenDmpConfiguration.Build(data, overrides), data).BuildServiceProvider();
        await CoreServices.MigrateAsync(services, CancellationToken.None);
        await ImportAsync(services, "FINESS", finessFile, Encoding.Latin1, (i, t) => i.ImportFinessAsync(t, new DirectoryImportOptions(), null, CancellationToken.None), establishments * 2, null);
        await ImportAsync(services, "RPPS (first import)", rppsFile, Encoding.UTF8, (i, t) => i.ImportRppsAsync(t, new DirectoryImportOptions(), null, CancellationToken.None), lines, readRate);
        await ImportAsync(services, "RPPS (same file again)", rppsFile, Encoding.UTF8, (i, t) => i.ImportRppsAsync(t, new DirectoryImportOptions(), null, CancellationToken.None), lines, readRate);

        // A search around a place over the whole directory.
        using (var scope = services.CreateScope())
        {
            var search = scope.ServiceProvider.GetRequiredService<DirectorySearch>();
            var centre = await search.CentreAsync("69003", CancellationToken.None);
            var times = new List<double>();
            DirectoryResult? result = null;
            for (var i = 0; i < 20; i++)
            {
                var t = Stopwatch.GetTimestamp();
                result = await search.SearchAsync(new DirectoryCriteria(Specialty: "SM04", Around: centre, DistanceKm: 20), 0, 20, CancellationToken.None);
                times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }

            times.Sort();
            Console.WriteLine($"search cardiologists within 20 km of 69003: {result!.Total} matches, median {times[times.Count / 2]:F1} ms, max {times[^1]:F1} ms");
        }

        await services.DisposeAsync();
        Directory.Delete(dir, true);
    }

    private static async Task ImportAsync(IServiceProvider services, string what, string file, Encoding encoding, Func<DirectoryImporter, TextReader, Task<DirectoryImportReport>> import, int lines, double? readRate)
    {
        using var scope = services.CreateScope();
        using var reader = new StreamReader(file, encoding);
        var watch = Stopwatch.StartNew();
        var report = await import(scope.ServiceProvider.GetRequiredService<DirectoryImporter>(), reader);
        var rate = lines / watch.Elapsed.TotalSeconds;
        Console.WriteLine($"{what}: {watch.Elapsed.TotalSeconds:F1} s = {rate:N0} lines/s{(readRate is { } r ? $" ({rate / r:P1} of the read-alone rate)" : string.Empty)} — {report}");
    }

    // Communes spread over metropolitan France (INSEE code, postal code, city, position).
    private static readonly (string Insee, string Postal, string City, double Lat, double Lon)[] Communes =
    [
        ("69383", "69003", "LYON", 45.7597, 4.8422), ("69266", "69100", "VILLEURBANNE", 45.7719, 4.8902), ("75056", "75015", "PARIS", 48.8566, 2.3522),
        ("13055", "13001", "MARSEILLE", 43.2965, 5.3698), ("31555", "31000", "TOULOUSE", 43.6047, 1.4442), ("33063", "33000", "BORDEAUX", 44.8378, -0.5792),
        ("59350", "59000", "LILLE", 50.6292, 3.0573), ("44109", "44000", "NANTES", 47.2184, -1.5536), ("67482", "67000", "STRASBOURG", 48.5734, 7.7521),
        ("35238", "35000", "RENNES", 48.1173, -1.6778), ("38185", "38000", "GRENOBLE", 45.1885, 5.7245), ("21231", "21000", "DIJON", 47.3220, 5.0415),
    ];

    private static readonly string[] Specialties = ["SM54", "SM04", "SM40", "SM42", "SM38", "SM15", "SM53"];

    private static void WriteFiness(string path, int count)
    {
        using var w = new StreamWriter(path, false, Encoding.Latin1);
        w.Write($"finess;etalab;{count};2026-11-20\r\n");
        var rnd = new Random(7);
        var positions = new List<(string Finess, double X, double Y)>(count);
        for (var i = 0; i < count; i++)
        {
            var c = Communes[i % Communes.Length];
            var finess = c.Insee[..2] + (1_000_000 + i).ToString("D7", CultureInfo.InvariantCulture);
            w.Write(string.Join(';', "structureet", finess, "690000000", "PHARMACIE " + i, "PHARMACIE DU CENTRE " + i, string.Empty, string.Empty, "5", "R", "DE LA GARE", string.Empty, string.Empty,
                c.Insee[2..], c.Insee[..2], "DEPARTEMENT", $"{c.Postal} {c.City}", "0478000000", string.Empty, "620", "Pharmacie d'Officine", "3201", "Commerce de Biens à Usage Médicaux",
                "12345678900011", "4773Z", "01", "Etablissement Tarif Libre", "9", "Non concerné", "1990-01-01", "1990-01-01", "2024-01-02") + ";\r\n");
            var (x, y) = Geo.ToLambert93(new GeoPoint(c.Lat + (rnd.NextDouble() - 0.5) * 0.1, c.Lon + (rnd.NextDouble() - 0.5) * 0.1));
            positions.Add((finess, x, y));
        }

        foreach (var (finess, x, y) in positions)
        {
            w.Write(string.Create(CultureInfo.InvariantCulture, $"geolocalisation;{finess};{x:F1};{y:F1};1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;2024-01-02\r\n"));
        }
    }

    private static int WriteRpps(string path, int lines, int establishments)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        w.Write(string.Join('|', Header) + "|\n");
        var v = new string[Header.Length];
        var written = 0;
        var person = 0;
        while (written < lines)
        {
            var rpps = Rpps.WithCheckDigit((1_000_000_000L + person).ToString(CultureInfo.InvariantCulture));
            var activities = 1 + (person % 5 == 0 ? 1 : 0) + (person % 17 == 0 ? 1 : 0);
            for (var a = 0; a < activities && written < lines; a++, written++)
            {
                Array.Fill(v, string.Empty);
                var c = Communes[(person + a) % Communes.Length];
                var specialty = Specialties[person % Specialties.Length];
                var atHospital = a == 1;
                v[0] = "8";
                v[1] = rpps;
                v[2] = "8" + rpps;
                v[3] = "DR";
                v[7] = "NOM" + person.ToString(CultureInfo.InvariantCulture);
                v[8] = "PRENOM";
                v[9] = "10";
                v[10] = "Médecin";
                v[13] = "S";
                v[15] = specialty;
                v[16] = Nomenclatures.Specialties.GetValueOrDefault(specialty, "Spécialité");
                v[17] = atHospital ? "S" : "L";
                v[21] = atHospital ? c.Insee[..2] + (1_000_000 + (person % establishments)).ToString("D7", CultureInfo.InvariantCulture) : string.Empty;
                v[23] = "S" + (person * 3 + a).ToString(CultureInfo.InvariantCulture);
                v[24] = atHospital ? "CENTRE HOSPITALIER" : "CABINET MEDICAL";
                v[28] = "12";
                v[31] = "Rue";
                v[32] = "de la République";
                v[35] = c.Postal;
                v[36] = c.Insee;
                v[37] = c.City;
                v[40] = "0478000000";
                v[44] = c.Insee[..2];
                v[48] = "SA07";
                w.Write(string.Join('|', v));
                w.Write("|\n");
            }

            person++;
        }

        return person;
    }
}
