using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Security;
using System.Text;
using System.Xml;

namespace OpenDmp.Client;

/// <summary>The professional a structure's software acts for, as the VIHF names them.</summary>
/// <param name="Rpps">The professional's RPPS number (11 digits); the assertion carries "8" + RPPS.</param>
/// <param name="ProfessionCode">Their profession (TRE_G15, e.g. "10" physician, "21" pharmacist), as in the directory.</param>
/// <param name="SpecialtyCode">Their specialty or savoir-faire (TRE_R38, e.g. "SM54"), when they have one.</param>
public sealed record VihfProfessional(string Rpps, string ProfessionCode, string? SpecialtyCode = null);

/// <summary>The software that produces the assertion (recorded in the patient's trail).</summary>
/// <param name="Name">The software's name (LPS_Nom).</param>
/// <param name="Version">Its version (LPS_Version).</param>
/// <param name="Homologation">Its DMP homologation number (LPS_ID_HOMOLOGATION_DMP), when it has one.</param>
public sealed record SoftwareIdentity(string Name, string Version, string? Homologation = null);

/// <summary>The DMP's access modes (VIHF purposeofuse).</summary>
public static class AccessModes
{
    /// <summary>A normal access, under the professional's authorisation.</summary>
    public const string Normal = "normal";

    /// <summary>A vital emergency: read-only, four hours, notified to the patient; needs the patient's INS.</summary>
    public const string BreakGlass = "bris_de_glace";

    /// <summary>The emergency regulation centre (SAMU - centre 15): read-only, four hours, notified; needs the patient's INS.</summary>
    public const string Centre15 = "centre_15";
}

/// <summary>
/// Issues the VIHF (SAML 2.0 assertion signed with the structure's key) with which a structure's
/// software, authenticated by the structure's certificate, names the professional acting — one
/// fresh assertion per request, valid ten minutes, as OpenDMP's integration guide describes
/// (docs/integration/vihf.md).
/// </summary>
public sealed class VihfIssuer
{
    private const string CodeSystemProfession = "1.2.250.1.71.1.2.7";
    private const string CodeSystemSpecialty = "1.2.250.1.71.4.2.5";
    private const string CodeSystemAccessMode = "1.2.250.1.213.1.1.4.248";
    private const string InsOid = "1.2.250.1.213.1.4.8";
    private readonly X509Certificate2 _structure;
    private readonly string _structureId;
    private readonly string _audience;
    private readonly VihfProfessional _professional;
    private readonly SoftwareIdentity _software;
    private readonly TimeProvider _time;

    /// <summary>An issuer for one professional working in one structure's software.</summary>
    /// <param name="structureCertificate">The structure's organisation certificate, with its private key (the one of the TLS connection).</param>
    /// <param name="structureId">Identifiant_Structure: "1" + the structure's FINESS.</param>
    /// <param name="audience">The platform's public base URL (e.g. https://dmp.example.fr).</param>
    /// <param name="professional">The professional acting.</param>
    /// <param name="software">The software.</param>
    /// <param name="time">The clock (the system's by default).</param>
    public VihfIssuer(X509Certificate2 structureCertificate, string structureId, string audience, VihfProfessional professional, SoftwareIdentity software, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(structureCertificate);
        if (!structureCertificate.HasPrivateKey)
        {
            throw new ArgumentException("the structure's certificate must come with its private key (the assertion is signed with it)", nameof(structureCertificate));
        }

        _structure = structureCertificate;
        _structureId = structureId;
        _audience = audience.TrimEnd('/');
        _professional = professional;
        _software = software;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The signed assertion, as XML.</summary>
    /// <param name="patientIns">The patient the request concerns (resource-id), if any: the request may then concern no other.</param>
    /// <param name="accessMode">One of <see cref="AccessModes"/>.</param>
    /// <param name="insSystem">The INS's identifier system (the NIR's by default, urn:oid:1.2.250.1.213.1.4.8).</param>
    public string Issue(string? patientIns = null, string accessMode = AccessModes.Normal, string insSystem = "urn:oid:" + InsOid)
    {
        var id = "_" + Guid.NewGuid().ToString("N");
        var now = _time.GetUtcNow();
        string At(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        static string X(string s) => SecurityElement.Escape(s);
        var xml = new StringBuilder();
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Assertion xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{id}\" IssueInstant=\"{At(now)}\" Version=\"2.0\">");
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Issuer Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName\">{X(_structure.Subject)}</saml2:Issuer>");
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Subject><saml2:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">8{X(_professional.Rpps)}</saml2:NameID></saml2:Subject>");
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Conditions NotBefore=\"{At(now.AddMinutes(-1))}\" NotOnOrAfter=\"{At(now.AddMinutes(10))}\"><saml2:AudienceRestriction><saml2:Audience>{X(_audience)}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>");
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:AuthnStatement AuthnInstant=\"{At(now)}\"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>");
        xml.Append("<saml2:AttributeStatement>");
        Attribute(xml, "urn:oasis:names:tc:xspa:1.0:subject:subject-id", "8" + X(_professional.Rpps));
        var roles = $"<saml2:AttributeValue><Role xmlns=\"urn:hl7-org:v3\" xsi:type=\"CE\" code=\"{X(_professional.ProfessionCode)}\" codeSystem=\"{CodeSystemProfession}\"/></saml2:AttributeValue>";
        if (_professional.SpecialtyCode is { } specialty)
        {
            roles += $"<saml2:AttributeValue><Role xmlns=\"urn:hl7-org:v3\" xsi:type=\"CE\" code=\"{X(specialty)}\" codeSystem=\"{CodeSystemSpecialty}\"/></saml2:AttributeValue>";
        }

        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Attribute Name=\"urn:oasis:names:tc:xacml:2.0:subject:role\">{roles}</saml2:Attribute>");
        Attribute(xml, "Identifiant_Structure", X(_structureId));
        if (patientIns is not null)
        {
            var oid = insSystem.StartsWith("urn:oid:", StringComparison.Ordinal) ? insSystem[8..] : insSystem;
            Attribute(xml, "urn:oasis:names:tc:xacml:2.0:resource:resource-id", $"{X(patientIns)}^^^&amp;{X(oid)}&amp;ISO^NH");
        }

        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Attribute Name=\"urn:oasis:names:tc:xspa:1.0:subject:purposeofuse\"><saml2:AttributeValue><PurposeOfUse xmlns=\"urn:hl7-org:v3\" xsi:type=\"CE\" code=\"{X(accessMode)}\" codeSystem=\"{CodeSystemAccessMode}\"/></saml2:AttributeValue></saml2:Attribute>");
        Attribute(xml, "LPS_Nom", X(_software.Name));
        Attribute(xml, "LPS_Version", X(_software.Version));
        if (_software.Homologation is { } homologation)
        {
            Attribute(xml, "LPS_ID_HOMOLOGATION_DMP", X(homologation));
        }

        xml.Append("</saml2:AttributeStatement></saml2:Assertion>");
        return Sign(xml.ToString(), id);
    }

    /// <summary>The value of the X-OpenDMP-VIHF header: base64 of the signed assertion's UTF-8 XML.</summary>
    /// <param name="patientIns">The patient the request concerns, if any.</param>
    /// <param name="accessMode">One of <see cref="AccessModes"/>.</param>
    /// <param name="insSystem">The INS's identifier system (the NIR's by default).</param>
    public string Header(string? patientIns = null, string accessMode = AccessModes.Normal, string insSystem = "urn:oid:" + InsOid) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(Issue(patientIns, accessMode, insSystem)));

    private static void Attribute(StringBuilder xml, string name, string escapedValue) =>
        xml.Append(CultureInfo.InvariantCulture, $"<saml2:Attribute Name=\"{name}\"><saml2:AttributeValue>{escapedValue}</saml2:AttributeValue></saml2:Attribute>");

    /// <summary>Enveloped XML-DSig over the assertion by its ID (exclusive c14n, RSA-SHA256), placed after the Issuer.</summary>
    private string Sign(string xml, string id)
    {
        var doc = new XmlDocument { PreserveWhitespace = true, XmlResolver = null };
        using (var reader = XmlReader.Create(new StringReader(xml), new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null }))
        {
            doc.Load(reader);
        }

        using var key = _structure.GetRSAPrivateKey() ?? throw new InvalidOperationException("the structure's certificate has no RSA private key");
        var signed = new SignedXml(doc) { SigningKey = key };
        signed.SignedInfo!.CanonicalizationMethod = SignedXml.XmlDsigExcC14NTransformUrl;
        signed.SignedInfo.SignatureMethod = SignedXml.XmlDsigRSASHA256Url;
        var reference = new Reference("#" + id) { DigestMethod = SignedXml.XmlDsigSHA256Url };
        reference.AddTransform(new XmlDsigEnvelopedSignatureTransform());
        reference.AddTransform(new XmlDsigExcC14NTransform());
        signed.AddReference(reference);
        var keyInfo = new KeyInfo();
        keyInfo.AddClause(new KeyInfoX509Data(_structure));
        signed.KeyInfo = keyInfo;
        signed.ComputeSignature();
        var issuer = doc.DocumentElement!.FirstChild!;
        doc.DocumentElement.InsertAfter(doc.ImportNode(signed.GetXml(), true), issuer);
        return doc.OuterXml;
    }
}
