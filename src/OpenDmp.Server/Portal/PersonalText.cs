using OpenDmp.Core.Records;

namespace OpenDmp.Server.Portal;

/// <summary>How personal-space entries read in the portals (labels and choices in the person's language).</summary>
public static class PersonalText
{
    /// <summary>One line: the main field, then "label : value" for the others that are filled in.</summary>
    public static string Summary(PersonalItem item)
    {
        var form = PersonalSpaceService.Category(item.Category);
        if (form is null)
        {
            return string.Join(" — ", item.Fields.Values);
        }

        var parts = new List<string>();
        foreach (var f in form.Fields)
        {
            if (!item.Fields.TryGetValue(f.Name, out var v))
            {
                continue;
            }

            var shown = Value(f, v);
            parts.Add(parts.Count == 0 ? shown : $"{Ui.T("personal.field." + f.Name)} : {shown}");
        }

        return string.Join(" — ", parts);
    }

    public static string Value(PersonalField f, string v) => f.Kind switch
    {
        "choice" => Ui.T("personal.choice." + v),
        "date" when DateOnly.TryParseExact(v, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var d) => Ui.Date(new DateTimeOffset(d.ToDateTime(new TimeOnly(12, 0)), TimeSpan.Zero)),
        _ => v,
    };
}
