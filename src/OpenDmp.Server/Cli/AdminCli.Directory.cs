using System.CommandLine;
using System.Text;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory.Import;
using Spectre.Console;

namespace OpenDmp.Server.Cli;

public static partial class AdminCli
{
    /// <summary><c>opendmp import directory --rpps FILE --finess FILE</c>: the national extractions, with a progress bar.</summary>
    private static Command DirectoryImportCommand(Cli c)
    {
        var rpps = new Option<string?>("--rpps") { Description = "the annuaire santé extraction PS_LibreAcces_Personne_activite_*.txt ('|'-separated, UTF-8)" };
        var finess = new Option<string?>("--finess") { Description = "the FINESS extraction etalab-cs1100507-stock-*.csv (';'-separated, latin-1)" };
        var massRemoval = new Option<bool>("--allow-mass-removal") { Description = "let the extraction deactivate more than a tenth of the directory's entries of its source (refused otherwise: a truncated file would empty the directory)" };
        var command = new Command("directory", "import the national directories (RPPS professionals and their activities, FINESS establishments and their positions): idempotent, a re-import updates, and deactivates what the extraction no longer lists; FINESS first places the RPPS activities")
        {
            rpps, finess, massRemoval,
        };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var rppsFile = pr.GetValue(rpps);
            var finessFile = pr.GetValue(finess);
            if (rppsFile is null && finessFile is null)
            {
                throw DmpException.Invalid("give --rpps FILE, --finess FILE or both");
            }

            var options = new DirectoryImportOptions(pr.GetValue(massRemoval));
            // FINESS first: the positions of the establishments place the professionals' activities.
            if (finessFile is not null)
            {
                var report = await ImportFileAsync(sp, c, finessFile, FinessExtract.Latin1, (i, t, p) => i.ImportFinessAsync(t, options, p, ct));
                await c.Out.WriteLineAsync($"{Path.GetFileName(finessFile)}: {report}");
            }

            if (rppsFile is not null)
            {
                var report = await ImportFileAsync(sp, c, rppsFile, Encoding.UTF8, (i, t, p) => i.ImportRppsAsync(t, options, p, ct));
                await c.Out.WriteLineAsync($"{Path.GetFileName(rppsFile)}: {report}");
            }
        }, ct)));
        return command;
    }

    private static async Task<DirectoryImportReport> ImportFileAsync(IServiceProvider sp, Cli c, string file, Encoding encoding,
        Func<DirectoryImporter, TextReader, IProgress<long>, Task<DirectoryImportReport>> import)
    {
        if (!File.Exists(file))
        {
            throw DmpException.Invalid($"file not found: {file}");
        }

        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var text = new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        DirectoryImportReport? report = null;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(c.Out) });
        await console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progressCtx =>
            {
                // Progress by bytes read: the line count of a national extraction is not known beforehand.
                var task = progressCtx.AddTask(Path.GetFileName(file), maxValue: Math.Max(1, stream.Length));
                using var scope = sp.CreateScope();
                var importer = scope.ServiceProvider.GetRequiredService<DirectoryImporter>();
                // Reported inline by the importer while the file is open (System.Progress would post it to
                // the thread pool, where a late report read the position of a file already closed).
                report = await import(importer, text, new InlineProgress(_ => task.Value = stream.Position));
                task.Value = task.MaxValue;
            });
        return report!;
    }

    /// <summary>An <see cref="IProgress{T}"/> that runs its handler on the reporting thread, at once.</summary>
    private sealed class InlineProgress(Action<long> handler) : IProgress<long>
    {
        public void Report(long value) => handler(value);
    }
}
