using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Xml;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>VIHF assertions written by hand from docs/integration/vihf.md, as a vendor would, signed with a structure's key.</summary>
public static class Vihfs
{
    /// <summary>The assertion's fields a test may change; <c>Ins</c>: the patient named in resource-id (none when null).</summary>
    public sealed record Vihf(string Rpps, string Role, string Structure, string Audience, DateTimeOffset NotBefore, DateTimeOffset NotOnOrAfter, string Purpose = "normal", string? Ins = null);

    public static string Xml(Vihf v, string id) => $"""
        <saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" IssueInstant="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}" Version="2.0">
          <saml2:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">CN=Logiciel de test, O=Test</saml2:Issuer>
          <saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">Dr Test</saml2:NameID></saml2:Subject>
          <saml2:Conditions NotBefore="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}" NotOnOrAfter="{v.NotOnOrAfter:yyyy-MM-ddTHH:mm:ssZ}">
            <saml2:AudienceRestriction><saml2:Audience>{v.Audience}</saml2:Audience></saml2:AudienceRestriction>
          </saml2:Conditions>
          <saml2:AuthnStatement AuthnInstant="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>
          <saml2:AttributeStatement>
            <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml2:AttributeValue>8{v.Rpps}</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role">
              <saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="{v.Role}" codeSystem="1.2.250.1.71.1.2.7" displayName="Médecin"/></saml2:AttributeValue>
              <saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="SM54" codeSystem="1.2.250.1.71.4.2.5" displayName="Médecine générale"/></saml2:AttributeValue>
            </saml2:Attribute>
            <saml2:Attribute Name="Identifiant_Structure"><saml2:AttributeValue>{v.Structure}</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="Secteur_Activite"><saml2:AttributeValue>SA01^1.2.250.1.71.4.2.4</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="VIHF_Version"><saml2:AttributeValue>3.0</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="Authentification_mode"><saml2:AttributeValue>INDIRECTE</saml2:AttributeValue></saml2:Attribute>
            {(v.Ins is null ? string.Empty : $"<saml2:Attribute Name=\"urn:oasis:names:tc:xacml:2.0:resource:resource-id\"><saml2:AttributeValue>{v.Ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO^NH</saml2:AttributeValue></saml2:Attribute>")}
            <saml2:Attribute Name="Ressource_URN"><saml2:AttributeValue>urn:dmp</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><saml2:AttributeValue><PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="{v.Purpose}" codeSystem="1.2.250.1.213.1.1.4.248" displayName="Mode d'accès"/></saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_Nom"><saml2:AttributeValue>Logiciel de test</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_Version"><saml2:AttributeValue>1.0</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_ID_HOMOLOGATION_DMP"><saml2:AttributeValue>TEST-0001</saml2:AttributeValue></saml2:Attribute>
          </saml2:AttributeStatement>
        </saml2:Assertion>
        """;

    /// <summary>The assertion as the X-OpenDMP-VIHF header carries it: base64 of the (signed) XML.</summary>
    public static string Header(Vihf v, X509Certificate2? signer, Func<string, string>? afterSigning = null) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(Assertion(v, signer, afterSigning)));

    /// <summary>Enveloped XML-DSig over the assertion (exclusive c14n, RSA-SHA256), placed after the Issuer; null key = unsigned.</summary>
    public static string Assertion(Vihf v, X509Certificate2? signer, Func<string, string>? afterSigning = null)
    {
        var id = "_" + Guid.NewGuid().ToString("N");
        var doc = new XmlDocument { PreserveWhitespace = true };
        doc.LoadXml(Xml(v, id));
        if (signer is not null)
        {
            var signed = new SignedXml(doc) { SigningKey = signer.GetRSAPrivateKey() };
            signed.SignedInfo!.CanonicalizationMethod = SignedXml.XmlDsigExcC14NTransformUrl;
            signed.SignedInfo.SignatureMethod = SignedXml.XmlDsigRSASHA256Url;
            var reference = new Reference("#" + id) { DigestMethod = SignedXml.XmlDsigSHA256Url };
            reference.AddTransform(new XmlDsigEnvelopedSignatureTransform());
            reference.AddTransform(new XmlDsigExcC14NTransform());
            signed.AddReference(reference);
            var keyInfo = new KeyInfo();
            keyInfo.AddClause(new KeyInfoX509Data(signer));
            signed.KeyInfo = keyInfo;
            signed.ComputeSignature();
            var issuer = doc.DocumentElement!.GetElementsByTagName("Issuer", "urn:oasis:names:tc:SAML:2.0:assertion")[0]!;
            doc.DocumentElement.InsertAfter(doc.ImportNode(signed.GetXml(), true), issuer);
        }

        var xml = doc.OuterXml;
        return afterSigning?.Invoke(xml) ?? xml;
    }

}
