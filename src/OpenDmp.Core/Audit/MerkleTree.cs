using System.Security.Cryptography;
using System.Text;

namespace OpenDmp.Core.Audit;

/// <summary>One step of an inclusion proof: the sibling's hash and on which side it stands.</summary>
public sealed record MerkleStep(bool SiblingOnLeft, string Hash);

/// <summary>
/// The Merkle tree a checkpoint signs over its chain heads (RFC 6962 hashing: a leaf is
/// SHA-256(0x00 ‖ line), a node SHA-256(0x01 ‖ left ‖ right); an odd last node is carried up
/// unchanged). It lets a patient check that the head of their own chain is in a signed checkpoint
/// from a few hashes, without learning anything about the other records it covers.
/// </summary>
public static class MerkleTree
{
    public static byte[] Leaf(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var buffer = new byte[bytes.Length + 1];
        bytes.CopyTo(buffer, 1);
        return SHA256.HashData(buffer);
    }

    public static byte[] Node(byte[] left, byte[] right)
    {
        var buffer = new byte[1 + left.Length + right.Length];
        buffer[0] = 1;
        left.CopyTo(buffer, 1);
        right.CopyTo(buffer, 1 + left.Length);
        return SHA256.HashData(buffer);
    }

    /// <summary>The root of the tree over the lines (in their given order), hex; the hash of nothing for no line.</summary>
    public static string Root(IReadOnlyList<string> lines)
    {
        if (lines.Count == 0)
        {
            return Convert.ToHexStringLower(SHA256.HashData([]));
        }

        var level = lines.Select(Leaf).ToList();
        while (level.Count > 1)
        {
            level = Up(level);
        }

        return Convert.ToHexStringLower(level[0]);
    }

    /// <summary>The inclusion proof of the line at <paramref name="index"/>: the siblings from the leaf to the root.</summary>
    public static IReadOnlyList<MerkleStep> Path(IReadOnlyList<string> lines, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, lines.Count);
        var steps = new List<MerkleStep>();
        var level = lines.Select(Leaf).ToList();
        while (level.Count > 1)
        {
            var sibling = index ^ 1;
            if (sibling < level.Count)
            {
                steps.Add(new MerkleStep(sibling < index, Convert.ToHexStringLower(level[sibling])));
            }

            level = Up(level);
            index /= 2;
        }

        return steps;
    }

    /// <summary>Recomputes the root from a line and its proof.</summary>
    public static string RootOf(string line, IEnumerable<MerkleStep> path)
    {
        var hash = Leaf(line);
        foreach (var step in path)
        {
            var sibling = Convert.FromHexString(step.Hash);
            hash = step.SiblingOnLeft ? Node(sibling, hash) : Node(hash, sibling);
        }

        return Convert.ToHexStringLower(hash);
    }

    private static List<byte[]> Up(List<byte[]> level)
    {
        var next = new List<byte[]>((level.Count + 1) / 2);
        for (var i = 0; i < level.Count; i += 2)
        {
            next.Add(i + 1 < level.Count ? Node(level[i], level[i + 1]) : level[i]);
        }

        return next;
    }
}
