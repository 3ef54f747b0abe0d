using System.Text;
using System.Xml;
using System.Xml.Linq;
using Microsoft.Net.Http.Headers;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Xds;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Xds;

/// <summary>
/// XDS.b over SOAP 1.2 for the installed base of DMP-compatible software (issue 17): ITI-18
/// Registry Stored Query at /xds/registry, ITI-43 Retrieve Document Set at /xds/repository (MTOM
/// answer), ITI-41 Provide and Register at /xds/repository/provide (MTOM or inline), ITI-57 Update
/// Document Set at /xds/registry/update. The caller is a professional with their own card, or a structure with its
/// organisation certificate and a VIHF in wsse:Security; the same policy and audit as MHD apply.
/// A message that cannot be read, or a refused assertion, is a SOAP fault that says why.
/// </summary>
public static class XdsEndpoints
{
    /// <summary>The largest query or retrieve request read (ITI-41 is bounded by Documents:TransactionBytesLimit).</summary>
    public const int MaxRequestBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapXds(this IEndpointRouteBuilder app)
    {
        app.MapPost("/xds/registry", (HttpContext ctx) => HandleAsync(ctx, XdsNames.StoredQueryAction))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Search, Also: OtherCallers.Organization));
        app.MapPost("/xds/repository", (HttpContext ctx) => HandleAsync(ctx, XdsNames.RetrieveAction))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Retrieve, Also: OtherCallers.Organization));
        app.MapPost("/xds/repository/provide", (HttpContext ctx) => HandleAsync(ctx, XdsProvide.Action))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Create, Also: OtherCallers.Organization));
        app.MapPost("/xds/registry/update", (HttpContext ctx) => HandleAsync(ctx, XdsUpdate.Action))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Update, Also: OtherCallers.Organization, OrAudit: [AuditAction.Mask, AuditAction.Unmask, AuditAction.Release, AuditAction.Replace]));
        return app;
    }

    private static async Task HandleAsync(HttpContext ctx, string action)
    {
        try
        {
            var limit = action == XdsProvide.Action ? ctx.RequestServices.GetRequiredService<OpenDmp.Core.Documents.DocumentOptions>().TransactionBytesLimit : MaxRequestBytes;
            var (envelope, parts) = await ReadEnvelopeAsync(ctx, limit);
            var header = envelope.Element(XdsNames.Soap + "Header");
            var asked = header?.Element(XdsNames.Wsa + "Action")?.Value.Trim();
            if (asked != action)
            {
                throw new XdsFaultException($"wsa:Action must be {action} on this endpoint, got '{asked}'");
            }

            var messageId = header?.Element(XdsNames.Wsa + "MessageID")?.Value.Trim();
            var body = envelope.Element(XdsNames.Soap + "Body")?.Elements().FirstOrDefault() ?? throw new XdsFaultException("the SOAP Body is empty");
            var actor = await ActorAsync(ctx, header);
            if (action == XdsProvide.Action)
            {
                if (body.Name != XdsNames.XdsB + "ProvideAndRegisterDocumentSetRequest")
                {
                    throw new XdsFaultException($"the body of ITI-41 is an xdsb:ProvideAndRegisterDocumentSetRequest, got {body.Name.LocalName}");
                }

                using var slot = await ctx.RequestServices.GetRequiredService<TransactionGate>().EnterAsync(ctx);
                var registered = await ctx.RequestServices.GetRequiredService<XdsProvide>().HandleAsync(body, parts, actor, Channels.Api, ctx.RequestAborted);
                await WriteSoapAsync(ctx, Envelope(action + "Response", messageId, registered));
                return;
            }

            if (action == XdsUpdate.Action)
            {
                if (body.Name != XdsNames.Lcm + "SubmitObjectsRequest")
                {
                    throw new XdsFaultException($"the body of ITI-57 is an lcm:SubmitObjectsRequest, got {body.Name.LocalName}");
                }

                var updated = await ctx.RequestServices.GetRequiredService<XdsUpdate>().HandleAsync(body, actor, Channels.Api, ctx.RequestAborted);
                await WriteSoapAsync(ctx, Envelope(action + "Response", messageId, updated));
                return;
            }

            if (action == XdsNames.StoredQueryAction)
            {
                if (body.Name != XdsNames.Query + "AdhocQueryRequest")
                {
                    throw new XdsFaultException($"the body of a stored query is a query:AdhocQueryRequest, got {body.Name.LocalName}");
                }

                var response = await ctx.RequestServices.GetRequiredService<XdsRegistry>().StoredQueryAsync(body, actor, Channels.Api, ctx.RequestAborted);
                await WriteSoapAsync(ctx, Envelope(action + "Response", messageId, response));
                return;
            }

            if (body.Name != XdsNames.XdsB + "RetrieveDocumentSetRequest")
            {
                throw new XdsFaultException($"the body of a retrieve is an xdsb:RetrieveDocumentSetRequest, got {body.Name.LocalName}");
            }

            var (documents, errors) = await ctx.RequestServices.GetRequiredService<XdsRegistry>().RetrieveAsync(body, actor, Channels.Api, ctx.RequestAborted);
            await WriteMtomAsync(ctx, action + "Response", messageId, documents, errors);
        }
        catch (XdsFaultException ex)
        {
            await WriteFaultAsync(ctx, ex.Sender ? 400 : 500, ex.Message, ex.Sender);
        }
        catch (DmpException ex) when (ex.Kind == ErrorKind.Unauthenticated)
        {
            await WriteFaultAsync(ctx, 401, ex.Message, sender: true, subcode: "wsse:FailedAuthentication");
        }
        catch (DmpException ex) when (ex.Kind is ErrorKind.Forbidden or ErrorKind.BadRequest or ErrorKind.Unprocessable or ErrorKind.TooLarge)
        {
            await WriteFaultAsync(ctx, ErrorMappingMiddleware.Status(ex.Kind), ex.Message, sender: true);
        }
    }

    /// <summary>A professional's own card; or a structure's certificate with the VIHF of wsse:Security naming the professional.</summary>
    private static async Task<Actor> ActorAsync(HttpContext ctx, XElement? header)
    {
        var actor = ctx.Actor();
        var assertion = header?.Element(XdsNames.Wsse + "Security")?.Element(XNamespace.Get(OpenDmp.Core.Pki.VihfVerifier.SamlNamespace) + "Assertion");
        if (actor.Kind == ActorKind.Organization)
        {
            if (assertion is null)
            {
                throw new DmpException(ErrorKind.Unauthenticated, "VIHF refused: a structure's certificate acts for a professional named in a VIHF (saml2:Assertion in wsse:Security)");
            }

            var cert = ctx.Connection.ClientCertificate ?? throw new DmpException(ErrorKind.Unauthenticated, "no client certificate");
            return await ctx.RequestServices.GetRequiredService<OpenDmp.Core.Pki.VihfAuthentication>().ActorFromXmlAsync(OuterXml(assertion), cert, actor, ctx.RequestAborted);
        }

        return assertion is null
            ? actor
            : throw new DmpException(ErrorKind.Unauthenticated, "VIHF refused: a VIHF is presented with the structure's organisation certificate; a professional's own card needs none");
    }

    /// <summary>The assertion as its own document, with the namespace declarations it inherits (the signature is over exclusive c14n).</summary>
    private static string OuterXml(XElement assertion)
    {
        var copy = new XElement(assertion);
        foreach (var ns in assertion.AncestorsAndSelf().SelectMany(a => a.Attributes()).Where(a => a.IsNamespaceDeclaration))
        {
            if (copy.Attribute(ns.Name) is null)
            {
                copy.Add(new XAttribute(ns.Name, ns.Value));
            }
        }

        return copy.ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>The SOAP envelope of the request — plain application/soap+xml, or the root part of an MTOM multipart/related — and the other MTOM parts by Content-ID.</summary>
    private static async Task<(XElement Envelope, Dictionary<string, byte[]> Parts)> ReadEnvelopeAsync(HttpContext ctx, long limit)
    {
        BodyLimits.Apply(ctx, limit);
        using var buffer = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted);
        if (buffer.Length > limit)
        {
            throw new DmpException(ErrorKind.TooLarge, $"the request is larger than {limit} bytes");
        }

        // The request's bytes, read in place (no copy); an MTOM message's root part is copied out alone.
        var bytes = new ArraySegment<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
        var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var type = ctx.Request.ContentType ?? string.Empty;
        if (type.StartsWith("multipart/related", StringComparison.OrdinalIgnoreCase))
        {
            bytes = await PartsAsync(bytes, type, limit, parts, ctx.RequestAborted);
        }
        else if (!type.StartsWith("application/soap+xml", StringComparison.OrdinalIgnoreCase))
        {
            throw new XdsFaultException($"the request is SOAP 1.2 (application/soap+xml, or multipart/related for MTOM), got '{type}'");
        }

        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, MaxCharactersInDocument = limit, MaxCharactersFromEntities = 0 };
        try
        {
            using var reader = XmlReader.Create(new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false), settings);
            var doc = XDocument.Load(reader, LoadOptions.PreserveWhitespace);
            var root = doc.Root!;
            return root.Name == XdsNames.Soap + "Envelope" ? (root, parts) : throw new XdsFaultException($"the message is not a SOAP 1.2 Envelope ({XdsNames.Soap}), got {root.Name}");
        }
        catch (XmlException ex)
        {
            throw new XdsFaultException("the SOAP message is not well-formed XML: " + ex.Message);
        }
    }

    /// <summary>Reads an MTOM message: returns its root part (the SOAP envelope), and puts the others in <paramref name="parts"/> by Content-ID.</summary>
    private static async Task<byte[]> PartsAsync(ArraySegment<byte> body, string contentType, long limit, Dictionary<string, byte[]> parts, CancellationToken ct)
    {
        var media = MediaTypeHeaderValue.Parse(contentType);
        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new XdsFaultException("the multipart/related request has no boundary");
        }

        var start = media.Parameters.FirstOrDefault(p => p.Name.Equals("start", StringComparison.OrdinalIgnoreCase))?.Value.Value?.Trim('"').Trim('<', '>');
        var reader = new Microsoft.AspNetCore.WebUtilities.MultipartReader(boundary, new MemoryStream(body.Array!, body.Offset, body.Count, writable: false)) { BodyLengthLimit = limit };
        byte[]? root = null;
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            using var part = new MemoryStream();
            await section.Body.CopyToAsync(part, ct);
            var id = (section.Headers?.TryGetValue("Content-ID", out var cid) == true ? cid.ToString() : string.Empty).Trim().Trim('<', '>');
            if (root is null && (start is null || id == start))
            {
                root = part.ToArray();
            }
            else
            {
                parts[id] = part.ToArray();
            }
        }

        return root ?? throw new XdsFaultException("the multipart/related request has no root part (the SOAP envelope)");
    }

    private static XElement Envelope(string action, string? relatesTo, params object[] body) =>
        new(XdsNames.Soap + "Envelope",
            new XAttribute(XNamespace.Xmlns + "soap", XdsNames.Soap),
            new XAttribute(XNamespace.Xmlns + "wsa", XdsNames.Wsa),
            new XElement(XdsNames.Soap + "Header",
                new XElement(XdsNames.Wsa + "Action", new XAttribute(XdsNames.Soap + "mustUnderstand", "true"), action),
                relatesTo is null ? null : new XElement(XdsNames.Wsa + "RelatesTo", relatesTo)),
            new XElement(XdsNames.Soap + "Body", body));

    private static async Task WriteSoapAsync(HttpContext ctx, XElement envelope, int status = 200)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/soap+xml; charset=utf-8";
        await ctx.Response.WriteAsync(envelope.ToString(SaveOptions.DisableFormatting), Encoding.UTF8, ctx.RequestAborted);
    }

    /// <summary>ITI-43's answer as MTOM/XOP: the SOAP root part, then one part per document referenced by xop:Include.</summary>
    private static async Task WriteMtomAsync(HttpContext ctx, string action, string? relatesTo, IReadOnlyList<RetrievedDocument> documents, IReadOnlyList<XdsRegistry.RegistryError> errors)
    {
        var parts = documents.Select((d, i) => (Id: $"document{i + 1}@opendmp", Document: d)).ToList();
        var response = new XElement(XdsNames.XdsB + "RetrieveDocumentSetResponse",
            XdsRegistry.RegistryResponse(documents.Count, errors),
            parts.Select(p => new XElement(XdsNames.XdsB + "DocumentResponse",
                new XElement(XdsNames.XdsB + "RepositoryUniqueId", ctx.RequestServices.GetRequiredService<XdsOptions>().RepositoryUniqueId),
                new XElement(XdsNames.XdsB + "DocumentUniqueId", p.Document.UniqueId),
                new XElement(XdsNames.XdsB + "mimeType", p.Document.MimeType),
                new XElement(XdsNames.XdsB + "Document", new XElement(XdsNames.Xop + "Include", new XAttribute("href", "cid:" + p.Id))))));
        var boundary = "MIMEBoundary_" + Guid.NewGuid().ToString("N");
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = $"multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<root@opendmp>\"; start-info=\"application/soap+xml\"";
        var output = ctx.Response.Body;
        async Task Text(string s) => await output.WriteAsync(Encoding.UTF8.GetBytes(s), ctx.RequestAborted);
        await Text($"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root@opendmp>\r\n\r\n");
        await Text(Envelope(action, relatesTo, response).ToString(SaveOptions.DisableFormatting));
        foreach (var (id, document) in parts)
        {
            await Text($"\r\n--{boundary}\r\nContent-Type: {document.MimeType}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{id}>\r\n\r\n");
            await output.WriteAsync(document.Content, ctx.RequestAborted);
        }

        await Text($"\r\n--{boundary}--\r\n");
    }

    /// <summary>A SOAP 1.2 fault: Sender (the request is at fault) or Receiver, with the reason that says what is wrong.</summary>
    public static Task WriteFaultAsync(HttpContext ctx, int status, string reason, bool sender, string? subcode = null)
    {
        ctx.Response.Clear();
        var code = new XElement(XdsNames.Soap + "Code", new XElement(XdsNames.Soap + "Value", sender ? "soap:Sender" : "soap:Receiver"));
        if (subcode is not null)
        {
            code.Add(new XElement(XdsNames.Soap + "Subcode", new XElement(XdsNames.Soap + "Value", new XAttribute(XNamespace.Xmlns + "wsse", XdsNames.Wsse), subcode)));
        }

        var fault = new XElement(XdsNames.Soap + "Fault", code, new XElement(XdsNames.Soap + "Reason", new XElement(XdsNames.Soap + "Text", new XAttribute(XNamespace.Xml + "lang", "en"), reason)));
        return WriteSoapAsync(ctx, Envelope("http://www.w3.org/2005/08/addressing/soap/fault", null, fault), status);
    }
}
