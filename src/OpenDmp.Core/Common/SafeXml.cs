using System.Xml;
using System.Xml.Linq;

namespace OpenDmp.Core.Common;

/// <summary>An untrusted input went beyond one of the limits set for it (depth, size, count, time, expansion).</summary>
public sealed class InputLimitException : Exception
{
    public InputLimitException(string message)
        : base(message)
    {
    }

    public InputLimitException()
    {
    }

    public InputLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Limits applied to every XML document read from outside (CDA, XDM metadata, narratives).</summary>
public sealed record XmlLimits(int MaxDepth = 256, long MaxCharacters = 64L * 1024 * 1024, int MaxElements = 2_000_000)
{
    public static XmlLimits Default { get; } = new();
}

/// <summary>
/// The one way OpenDMP reads untrusted XML: no DTD (no entity expansion, no external resolution),
/// a bounded document size, a bounded nesting depth and a bounded number of elements. The checks run
/// on a streaming reader before any tree is built, so a hostile document costs one linear pass and
/// never a deep recursion. Violations are <see cref="InputLimitException"/> (limits) or
/// <see cref="XmlException"/> (not well-formed), each with a sentence that says what is wrong.
/// </summary>
public static class SafeXml
{
    public static XmlReaderSettings ReaderSettings(XmlLimits limits) => new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        MaxCharactersInDocument = limits.MaxCharacters,
        MaxCharactersFromEntities = 0,
        IgnoreProcessingInstructions = true,
        CloseInput = false,
    };

    /// <summary>Checks that the bytes are well-formed XML within the limits (one streaming pass).</summary>
    public static void Check(ReadOnlyMemory<byte> content, XmlLimits? limits = null)
    {
        limits ??= XmlLimits.Default;
        using var stream = AsStream(content);
        using var reader = XmlReader.Create(stream, ReaderSettings(limits));
        Check(reader, limits);
    }

    /// <summary>Loads a tree after the streaming check has passed: the tree's depth is then bounded.</summary>
    public static XDocument Load(ReadOnlyMemory<byte> content, XmlLimits? limits = null, LoadOptions options = LoadOptions.None)
    {
        limits ??= XmlLimits.Default;
        Check(content, limits);
        using var stream = AsStream(content);
        using var reader = XmlReader.Create(stream, ReaderSettings(limits));
        return XDocument.Load(reader, options);
    }

    /// <summary>Loads a tree from text (already decoded, e.g. a FHIR narrative), with the same limits.</summary>
    public static XDocument Parse(string text, XmlLimits? limits = null)
    {
        limits ??= XmlLimits.Default;
        using (var check = XmlReader.Create(new StringReader(text), ReaderSettings(limits)))
        {
            Check(check, limits);
        }

        using var reader = XmlReader.Create(new StringReader(text), ReaderSettings(limits));
        return XDocument.Load(reader, LoadOptions.PreserveWhitespace);
    }

    private static void Check(XmlReader reader, XmlLimits limits)
    {
        var elements = 0;
        try
        {
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element)
                {
                    continue;
                }

                if (reader.Depth >= limits.MaxDepth)
                {
                    throw new InputLimitException($"the XML nests deeper than {limits.MaxDepth} levels");
                }

                if (++elements > limits.MaxElements)
                {
                    throw new InputLimitException($"the XML has more than {limits.MaxElements} elements");
                }
            }
        }
        catch (XmlException ex) when (ex.Message.Contains("MaxCharactersInDocument", StringComparison.Ordinal))
        {
            throw new InputLimitException($"the XML is larger than {limits.MaxCharacters} characters", ex);
        }
    }

    private static MemoryStream AsStream(ReadOnlyMemory<byte> content) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(content, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
}
