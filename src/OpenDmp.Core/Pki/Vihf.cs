using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Xml;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Pki;

/// <summary>What a verified VIHF assertion says: who acts, in which role, for which structure, with which software.</summary>
/// <param name="AssertionId">The assertion's ID (used once).</param>
/// <param name="SubjectId">The acting professional's IdNatPs ("8" + RPPS).</param>
/// <param name="Roles">The role codes (profession TRE_G15, then specialty / savoir-faire where given).</param>
/// <param name="StructureId">Identifiant_Structure as asserted.</param>
/// <param name="ActivitySector">Secteur_Activite, when given.</param>
/// <param name="PurposeOfUse">The access mode code (normal, …).</param>
/// <param name="ResourceId">The patient's INS as asserted (resource-id), when given.</param>
/// <param name="Software">LPS_Nom, LPS_Version and LPS_ID_HOMOLOGATION_DMP, joined.</param>
/// <param name="NotOnOrAfter">End of the assertion's validity.</param>
public sealed record VihfClaims(string AssertionId, string SubjectId, IReadOnlyList<string> Roles, string StructureId, string? ActivitySector, string PurposeOfUse, string? ResourceId, string Software, DateTimeOffset NotOnOrAfter)
{
    /// <summary>The RPPS of the acting professional, when the subject is an IdNatPs of type 8.</summary>
    public string? Rpps => SubjectId.Length == 12 && SubjectId[0] == '8' ? SubjectId[1..] : null;
}

/// <summary>
/// Verifies the VIHF (Vecteur d'Identification et d'Habilitation Formelle): a SAML 2.0 assertion in
/// which a structure — authenticated by its organisation certificate over mutual TLS — asserts the
/// professional acting in its software, signed (XML-DSig, enveloped, over the assertion by its ID) by
/// the very certificate of the TLS connection. Bounded: size, no DTD, no external resolution, one
/// signature over the whole assertion, a validity window of at most <see cref="MaxLifetime"/>. Every
/// refusal says what is wrong. The format is described attribute by attribute in docs/integration/vihf.md.
/// </summary>
public static class VihfVerifier
{
    public const string SamlNamespace = "urn:oasis:names:tc:SAML:2.0:assertion";
    public const string SubjectIdAttribute = "urn:oasis:names:tc:xspa:1.0:subject:subject-id";
    public const string RoleAttribute = "urn:oasis:names:tc:xacml:2.0:subject:role";
    public const string StructureAttribute = "Identifiant_Structure";
    public const string SectorAttribute = "Secteur_Activite";
    public const string ResourceIdAttribute = "urn:oasis:names:tc:xacml:2.0:resource:resource-id";
    public const string PurposeOfUseAttribute = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse";
    public const string SoftwareNameAttribute = "LPS_Nom";
    public const string SoftwareVersionAttribute = "LPS_Version";
    public const string SoftwareHomologationAttribute = "LPS_ID_HOMOLOGATION_DMP";

    /// <summary>The largest assertion accepted (characters of XML).</summary>
    public const int MaxCharacters = 32 * 1024;

    /// <summary>The longest validity window accepted.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(1);

    /// <summary>Clock skew tolerated at both ends of the window.</summary>
    public static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    /// <summary>Reads and checks an assertion; throws a DmpException (401) naming what is wrong.</summary>
    public static VihfClaims Verify(string xml, X509Certificate2 structureCertificate, string audience, DateTimeOffset now)
    {
        if (xml.Length > MaxCharacters)
        {
            throw Refused($"the assertion is larger than {MaxCharacters} characters");
        }

        var doc = Load(xml);
        var assertion = doc.DocumentElement!;
        if (assertion.LocalName != "Assertion" || assertion.NamespaceURI != SamlNamespace)
        {
            throw Refused($"the root element must be a SAML 2.0 Assertion ({SamlNamespace})");
        }

        var id = assertion.GetAttribute("ID");
        if (string.IsNullOrEmpty(id))
        {
            throw Refused("the assertion has no ID");
        }

        if (id.Length > 256)
        {
            throw Refused("the assertion's ID is longer than 256 characters");
        }

        CheckSignature(doc, assertion, id, structureCertificate);
        var ns = new XmlNamespaceManager(doc.NameTable);
        ns.AddNamespace("saml", SamlNamespace);
        var notOnOrAfter = CheckConditions(assertion, ns, audience, now);
        var attributes = Attributes(assertion, ns);
        string Required(string name) => attributes.TryGetValue(name, out var v) && v.Count > 0 && v[0].Length > 0 ? v[0] : throw Refused($"the attribute {name} is missing");
        string? Optional(string name) => attributes.TryGetValue(name, out var v) && v.Count > 0 && v[0].Length > 0 ? v[0] : null;
        var roles = attributes.TryGetValue(RoleAttribute, out var r) ? r : [];
        if (roles.Count == 0)
        {
            throw Refused($"the attribute {RoleAttribute} (the professional's profession, TRE_G15) is missing");
        }

        var software = string.Join(' ', new[] { Required(SoftwareNameAttribute), Required(SoftwareVersionAttribute), Optional(SoftwareHomologationAttribute) }.Where(x => x is not null));
        return new VihfClaims(id, Required(SubjectIdAttribute), roles, Required(StructureAttribute), Optional(SectorAttribute), Optional(PurposeOfUseAttribute) ?? "normal", Optional(ResourceIdAttribute), software, notOnOrAfter);
    }

    private static XmlDocument Load(string xml)
    {
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = MaxCharacters,
            MaxCharactersFromEntities = 0,
            IgnoreComments = true,
        };
        var doc = new XmlDocument { PreserveWhitespace = true, XmlResolver = null };
        try
        {
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            doc.Load(reader);
        }
        catch (XmlException ex)
        {
            throw Refused("the assertion is not well-formed XML: " + ex.Message);
        }

        return doc;
    }

    /// <summary>One enveloped signature, child of the assertion, referencing it by its unique ID, valid with the TLS client's certificate.</summary>
    private static void CheckSignature(XmlDocument doc, XmlElement assertion, string id, X509Certificate2 certificate)
    {
        var signatures = doc.GetElementsByTagName("Signature", SignedXml.XmlDsigNamespaceUrl);
        if (signatures.Count == 0)
        {
            throw Refused("the assertion is not signed");
        }

        if (signatures.Count > 1 || signatures[0]!.ParentNode != assertion)
        {
            throw Refused("the assertion must carry exactly one signature, as its own child");
        }

        // Signature wrapping: the signed ID must designate this assertion and no other element.
        if (doc.SelectNodes("//*[@ID or @Id]")!.Cast<XmlElement>().Count(e => e.GetAttribute("ID") == id || e.GetAttribute("Id") == id) != 1)
        {
            throw Refused("the assertion's ID is not unique in the document");
        }

        var signed = new SignedXml(doc);
        try
        {
            signed.LoadXml((XmlElement)signatures[0]!);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw Refused("the signature cannot be read: " + ex.Message);
        }

        if (signed.SignedInfo?.References.Count != 1 || signed.SignedInfo.References[0] is not Reference reference || reference.Uri != "#" + id)
        {
            throw Refused("the signature must cover the whole assertion (one reference to #" + id + ")");
        }

        bool valid;
        try
        {
            valid = signed.CheckSignature(certificate, verifySignatureOnly: true);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw Refused("the signature cannot be checked: " + ex.Message);
        }

        if (!valid)
        {
            throw Refused("the signature is not valid for the structure certificate of this connection (signed by another key, or altered after signing)");
        }
    }

    private static DateTimeOffset CheckConditions(XmlElement assertion, XmlNamespaceManager ns, string audience, DateTimeOffset now)
    {
        if (assertion.SelectSingleNode("saml:Conditions", ns) is not XmlElement conditions)
        {
            throw Refused("the assertion has no Conditions (NotBefore, NotOnOrAfter, AudienceRestriction)");
        }

        var notBefore = Instant(conditions, "NotBefore");
        var notOnOrAfter = Instant(conditions, "NotOnOrAfter");
        if (notOnOrAfter <= notBefore || notOnOrAfter - notBefore > MaxLifetime)
        {
            throw Refused($"the validity window must be positive and at most {MaxLifetime.TotalMinutes:F0} minutes");
        }

        if (now + Skew < notBefore)
        {
            throw Refused($"the assertion is not valid yet (NotBefore {notBefore:O})");
        }

        if (now - Skew >= notOnOrAfter)
        {
            throw Refused($"the assertion has expired (NotOnOrAfter {notOnOrAfter:O})");
        }

        var audiences = conditions.SelectNodes("saml:AudienceRestriction/saml:Audience", ns)!.Cast<XmlNode>().Select(a => a.InnerText.Trim().TrimEnd('/')).ToList();
        if (!audiences.Contains(audience.TrimEnd('/'), StringComparer.OrdinalIgnoreCase))
        {
            throw Refused($"the assertion's audience must be {audience.TrimEnd('/')} (got {(audiences.Count == 0 ? "none" : string.Join(", ", audiences))})");
        }

        return notOnOrAfter;
    }

    private static DateTimeOffset Instant(XmlElement e, string name) =>
        DateTimeOffset.TryParse(e.GetAttribute(name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : throw Refused($"Conditions/@{name} must be an xs:dateTime in UTC");

    /// <summary>Attribute name → values (a coded value's @code, else its text).</summary>
    private static Dictionary<string, List<string>> Attributes(XmlElement assertion, XmlNamespaceManager ns)
    {
        var map = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (XmlElement attribute in assertion.SelectNodes("saml:AttributeStatement/saml:Attribute", ns)!)
        {
            var values = map.TryGetValue(attribute.GetAttribute("Name"), out var list) ? list : map[attribute.GetAttribute("Name")] = [];
            foreach (XmlElement value in attribute.SelectNodes("saml:AttributeValue", ns)!)
            {
                var coded = value.ChildNodes.OfType<XmlElement>().FirstOrDefault();
                values.Add((coded?.GetAttribute("code") is { Length: > 0 } code ? code : value.InnerText).Trim());
            }
        }

        return map;
    }

    private static DmpException Refused(string why) => new(ErrorKind.Unauthenticated, "VIHF refused: " + why);
}

/// <summary>
/// Turns a structure's request with a VIHF into the acting professional: verifies the assertion
/// against the connection's organisation certificate, refuses a replay, checks that the asserted
/// structure is the certificate's and that the professional is in the directory with the asserted
/// profession. The actor keeps the structure (<see cref="Actor.Structure"/>): the audit trail names both.
/// </summary>
public sealed class VihfAuthentication(Storage.DmpDbContext db, TimeProvider time, Fhir.ServerOptions server, Access.ConsentService consent)
{
    /// <summary>The DMP's access modes (purposeofuse, code system 1.2.250.1.213.1.1.4.248): null for a normal access, else the emergency mode.</summary>
    public static Access.GrantMode? Mode(string purposeOfUse) => purposeOfUse.ToLowerInvariant() switch
    {
        "normal" => null,
        "bris_de_glace" or "break-glass" => Access.GrantMode.BreakGlass,
        "centre_15" or "centre15" or "centre-15" => Access.GrantMode.Centre15,
        _ => throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: the access mode (purposeofuse) '{purposeOfUse}' is unknown; it is normal, bris_de_glace or centre_15"),
    };

    /// <summary>The HTTP header carrying the assertion on the FHIR API (base64 of its UTF-8 XML).</summary>
    public const string Header = "X-OpenDMP-VIHF";

    /// <summary>Inserts between two sweeps of ended assertions (per instance; the table is shared).</summary>
    private const int SweepEvery = 1024;

    private static int _sinceSweep;

    public async Task<Actor> ActorAsync(string header, X509Certificate2 certificate, Actor structure, CancellationToken ct)
    {
        if (header.Length > VihfVerifier.MaxCharacters * 2)
        {
            throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: the {Header} header is larger than {VihfVerifier.MaxCharacters * 2} characters");
        }

        string xml;
        try
        {
            xml = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(header.Trim()));
        }
        catch (FormatException)
        {
            throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: the {Header} header must be the base64 of the assertion's UTF-8 XML");
        }

        return await ActorFromXmlAsync(xml, certificate, structure, ct);
    }

    /// <summary>The same check for an assertion given as XML (the WS-Security header of an XDS.b request).</summary>
    public async Task<Actor> ActorFromXmlAsync(string xml, X509Certificate2 certificate, Actor structure, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var audience = server.PublicBaseUrl ?? throw new InvalidOperationException("the platform's public base URL is not known yet");
        var claims = VihfVerifier.Verify(xml, certificate, audience, now);
        var organization = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == structure.Id, ct)
            ?? throw new DmpException(ErrorKind.Unauthenticated, "VIHF refused: the certificate's structure is not in the directory");
        if (claims.StructureId != organization.Finess && claims.StructureId != "1" + organization.Finess && claims.StructureId != organization.Id)
        {
            throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: {VihfVerifier.StructureAttribute} '{claims.StructureId}' is not the structure of the certificate (FINESS {organization.Finess}, as '1{organization.Finess}')");
        }

        var mode = Mode(claims.PurposeOfUse);
        var rpps = claims.Rpps is { } r && Identity.Rpps.Validate(r) is null ? r
            : throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: {VihfVerifier.SubjectIdAttribute} must be the professional's IdNatPs (8 + RPPS), got '{claims.SubjectId}'");
        var professional = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(p => p.Rpps == rpps && p.DeactivatedAt == null, ct)
            ?? throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: no active professional with RPPS {rpps} in the directory");
        if (claims.Roles[0] != professional.ProfessionCode)
        {
            throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: the asserted role {claims.Roles[0]} is not the professional's profession in the directory ({professional.ProfessionCode})");
        }

        await UseOnceAsync(claims, now, ct);
        var patient = claims.ResourceId is { } rid ? await PatientOfAsync(rid, ct) : null;
        var actor = new Actor(ActorKind.Professional, professional.Id, professional.DisplayName, professional.ProfessionCode, Specialty: professional.SpecialtyCode, Structure: organization.Id, PatientScope: patient);
        if (mode is { } emergency)
        {
            await EmergencyAsync(patient ?? throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: an emergency access ({claims.PurposeOfUse}) names its patient in {VihfVerifier.ResourceIdAttribute}"), emergency, actor, claims.Software, ct);
        }

        return actor;
    }

    /// <summary>
    /// Used once, on every instance: the assertion's ID is written to vihf_assertions (shared by the
    /// instances of a deployment) until its end and a little after (clock skew); a second use is a
    /// replay. Ended ones are swept now and then.
    /// </summary>
    private async Task UseOnceAsync(VihfClaims claims, DateTimeOffset now, CancellationToken ct)
    {
        var row = new UsedVihfAssertion { Id = claims.AssertionId, NotAfter = claims.NotOnOrAfter + VihfVerifier.Skew };
        db.UsedVihfAssertions.Add(row);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            db.Entry(row).State = EntityState.Detached;
            if (await db.UsedVihfAssertions.AsNoTracking().AnyAsync(x => x.Id == row.Id, ct))
            {
                throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: the assertion {claims.AssertionId} was already used (replay); issue a new one per request");
            }

            throw;
        }

        db.Entry(row).State = EntityState.Detached;

        if (Interlocked.Increment(ref _sinceSweep) % SweepEvery == 0)
        {
            await db.UsedVihfAssertions.Where(x => x.NotAfter < now).ExecuteDeleteAsync(ct);
        }
    }

    /// <summary>The record of the patient the assertion names (resource-id: INS, alone or as CX value^^^&amp;OID&amp;ISO).</summary>
    private async Task<string> PatientOfAsync(string resourceId, CancellationToken ct)
    {
        var parts = resourceId.Split('^');
        var ins = Identity.Ins.Normalize(parts[0]);
        // The CX form's assigning authority (…^^^&OID&ISO) says which identity system, when given.
        var oid = parts.Length >= 4 && parts[3].Split('&') is [_, { Length: > 0 } o, ..] ? o : null;
        var system = oid is null ? null : "urn:oid:" + oid;
        var records = await db.PatientIdentifiers.AsNoTracking().Where(x => x.Value == ins && (system == null || x.System == system)).Select(x => x.RecordId).Distinct().Take(2).ToListAsync(ct);
        return records.Count == 1 ? records[0]
            : throw new DmpException(ErrorKind.Unauthenticated, records.Count == 0
                ? $"VIHF refused: {VihfVerifier.ResourceIdAttribute} names no patient known to OpenDMP ('{ins}')"
                : $"VIHF refused: {VihfVerifier.ResourceIdAttribute} '{ins}' is registered under several systems; give the CX form with its OID");
    }

    /// <summary>
    /// An emergency asserted in the VIHF is declared as with $emergency-access — under the policy (the
    /// patient's oppositions), read-only, time-boxed, notified to the patient — once: while the
    /// professional's emergency access of that mode runs, later assertions use it.
    /// </summary>
    private async Task EmergencyAsync(string recordId, Access.GrantMode mode, Actor actor, string software, CancellationToken ct)
    {
        var code = Access.GrantModes.Code(mode);
        var now = time.GetUtcNow();
        if (await db.Grants.AsNoTracking().AnyAsync(g => g.RecordId == recordId && g.HolderId == actor.Id && g.Mode == code && g.RevokedAt == null && g.End > now, ct))
        {
            return;
        }

        await consent.EmergencyAccessAsync(recordId, code, $"access mode {code} asserted in the VIHF by {software}", actor, Channels.Api, ct);
    }
}

/// <summary>A VIHF assertion already presented, kept until its end so that a replay is refused on every instance.</summary>
public sealed class UsedVihfAssertion
{
    /// <summary>The assertion's ID.</summary>
    public required string Id { get; set; }

    /// <summary>Until when it is kept (its NotOnOrAfter plus the tolerated skew).</summary>
    public DateTimeOffset NotAfter { get; set; }
}
