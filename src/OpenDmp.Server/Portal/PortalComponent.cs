using Microsoft.AspNetCore.Components;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Portal;

/// <summary>
/// Base of the portal pages (static server rendering): the request, the authenticated actor set by
/// the authentication middleware, and errors turned into a message for the person instead of a page
/// failure. Every data access goes through the Core services, hence the access policy and the audit
/// trail, with the channel "portal".
/// </summary>
public abstract class PortalComponent : ComponentBase
{
    [CascadingParameter] public HttpContext HttpContext { get; set; } = default!;

    protected Actor Actor => HttpContext.Actor();

    /// <summary>The terminology in force (pick lists, French displays of codes).</summary>
    protected OpenDmp.Core.Terminologies.TerminologySet Terms => HttpContext.RequestServices.GetRequiredService<OpenDmp.Core.Terminologies.TerminologyCatalog>().Current;

    /// <summary>The codes of a value set in force that a new document may use (retired ones left out), in display order.</summary>
    protected IEnumerable<OpenDmp.Core.Documents.Concept> PickList(string valueSetUrl) =>
        Terms.ValueSet(valueSetUrl) is { } vs
            ? Terms.Expand(vs, null, activeOnly: true, TimeProvider.System.GetUtcNow()).Select(i => new OpenDmp.Core.Documents.Concept(i.System, i.Code, i.Display))
            : [];

    /// <summary>What the portal shows of a document, with displays from the terminology in force.</summary>
    protected DocumentView ViewOf(string json) => DocumentView.From(json, Terms);

    /// <summary>What the portal shows of a document, with displays from the terminology in force.</summary>
    protected DocumentView ViewOf(Hl7.Fhir.Model.DocumentReference d) => DocumentView.From(d, Terms);

    protected static string Channel => Channels.Portal;

    protected CancellationToken Aborted => HttpContext.RequestAborted;

    /// <summary>The message shown when an action failed (already in the person's language where it comes from the portal).</summary>
    protected string? Error { get; set; }

    protected string? Done { get; set; }

    /// <summary>Runs an action; a refusal or invalid input becomes <see cref="Error"/> and the status code of the page.</summary>
    protected async Task<bool> TryAsync(Func<Task> action, string? success = null)
    {
        try
        {
            await action();
            Done = success;
            Error = null;
            return true;
        }
        catch (DmpException ex)
        {
            Error = Describe(ex);
            HttpContext.Response.StatusCode = ErrorMappingMiddleware.Status(ex.Kind);
            return false;
        }
    }

    /// <summary>
    /// Runs an action, then reloads the page's data to show its effect. The person sees the action's
    /// outcome (its message and status code); a failure of the reload is shown only if the action succeeded.
    /// </summary>
    protected async Task ActAsync(Func<Task> action, string? success, Func<Task> reload)
    {
        var ok = await TryAsync(action, success);
        var (done, error, status) = (Done, Error, HttpContext.Response.StatusCode);
        await TryAsync(reload);
        Done = done;
        if (!ok)
        {
            Error = error;
            HttpContext.Response.StatusCode = status;
        }
    }

    /// <summary>A refusal explained to a person: the portal's sentence, then the platform's own reason.</summary>
    protected static string Describe(DmpException ex) => ex.Kind switch
    {
        ErrorKind.NotFound or ErrorKind.Gone => Ui.T("error.notfound"),
        ErrorKind.Forbidden => Ui.T("error.forbidden") + " " + ex.Message,
        ErrorKind.Unauthenticated => Ui.T("error.unauthenticated"),
        ErrorKind.TooManyRequests => Ui.T("error.locked") + " " + ex.Message,
        _ => Ui.T("error.invalid") + " " + ex.Message,
    };

    protected static SearchParams Params(params (string Key, string? Value)[] pairs) =>
        new(pairs.Where(p => p.Value is not null).Select(p => new KeyValuePair<string, string>(p.Key, p.Value!)));
}
