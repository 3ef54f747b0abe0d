using System.Text.Json;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Records;

/// <summary>One language's text of the information notice.</summary>
public sealed record NoticeText(string Title, IReadOnlyList<string> Paragraphs);

/// <summary>
/// The information notice shown to the patient before they consent to open their record, shipped as
/// data (<c>Records/information-notice.json</c>) with its version and source. Every opening records
/// the version the patient was shown; an opening that names another version is refused, so that no
/// record is opened on a notice nobody can show again.
/// </summary>
public sealed record InformationNotice(string Version, string Source, NoticeText French, NoticeText English)
{
    public static InformationNotice Current { get; } = Load();

    /// <summary>The text in the language asked (French unless English is asked).</summary>
    public NoticeText In(string? language) => language is "en" ? English : French;

    /// <summary>The version the caller says the patient was shown, checked against the current one.</summary>
    public string Check(string? shown) =>
        string.IsNullOrWhiteSpace(shown)
            ? throw DmpException.Invalid($"the version of the information notice the patient was shown is required (information-notice; current version {Version}, text at /note-information)", "information-notice")
            : shown.Trim() == Version
                ? Version
                : throw DmpException.Invalid($"the patient was shown information notice '{shown.Trim()}', but the current one is {Version}: show the patient the current notice (/note-information) and send its version", "information-notice");

    private static InformationNotice Load()
    {
        using var stream = typeof(InformationNotice).Assembly.GetManifestResourceStream("records/information-notice.json")
            ?? throw new InvalidOperationException("the information notice is missing from the assembly");
        using var json = JsonDocument.Parse(stream);
        var root = json.RootElement;
        NoticeText Text(string language)
        {
            var e = root.GetProperty(language);
            return new NoticeText(e.GetProperty("title").GetString()!, e.GetProperty("paragraphs").EnumerateArray().Select(p => p.GetString()!).ToList());
        }

        return new InformationNotice(root.GetProperty("version").GetString()!, root.GetProperty("source").GetString()!, Text("fr"), Text("en"));
    }
}
