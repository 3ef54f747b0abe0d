using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Tests.Unit;

public class FhirJsonTests
{
    [Fact]
    public void Serialize_AttachmentSize_IsAJsonNumber()
    {
        var json = FhirJson.Serialize(new DocumentReference { Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { Size = 595 } }] });
        Assert.Contains("\"size\":595", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AttachmentSizeAsString_IsAccepted()
    {
        // Firely's FhirClient (R4, 6.x) writes Attachment.size as a JSON string; accept it.
        var doc = FhirJson.Parse<DocumentReference>("{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"content\":[{\"attachment\":{\"size\":\"595\"}}]}");
        Assert.Equal(595, FhirJson.SizeOf(doc.Content[0].Attachment));
    }
}
