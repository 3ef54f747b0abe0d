using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace OpenDmp.Core.Exports;

/// <summary>
/// A ZIP archive written front to back without seeking, entries stored (documents are mostly
/// compressed already, and the age layer above seals them): each entry is written whole when it is
/// handed over, so the archive's exact length is known before the first byte (the browser shows
/// the download's progress) and nothing but one entry is held in memory. No ZIP64: an archive
/// stays under 4 GiB and 65,535 entries (<see cref="Length"/> says so before anything is written).
/// </summary>
public sealed class StoredZip(Stream output, DateTimeOffset time)
{
    public const long MaxLength = uint.MaxValue - 1;
    public const int MaxEntries = ushort.MaxValue - 1;
    private const int LocalHeader = 30;
    private const int CentralHeader = 46;
    private const int EndRecord = 22;
    private const ushort Utf8Flag = 1 << 11;

    private readonly List<(byte[] Name, uint Crc, uint Size, uint Offset)> _central = [];
    private long _offset;
    private readonly (ushort Time, ushort Date) _dos = Dos(time);

    /// <summary>The archive's exact length for these entries (UTF-8 names, sizes in bytes); refused beyond what plain ZIP holds.</summary>
    public static long Length(IEnumerable<(string Name, long Size)> entries)
    {
        long total = EndRecord;
        var count = 0;
        foreach (var (name, size) in entries)
        {
            var n = Encoding.UTF8.GetByteCount(name);
            total += LocalHeader + n + size + CentralHeader + n;
            count++;
        }

        if (count > MaxEntries || total > MaxLength)
        {
            throw new ZipTooLargeException($"the archive would hold {count} files and {total} bytes: a plain ZIP holds at most {MaxEntries} files and 4 GiB");
        }

        return total;
    }

    /// <summary>Writes one whole entry (its CRC is computed first: no data descriptor is needed).</summary>
    public async Task AddAsync(string name, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var crc = Crc32.HashToUInt32(content.Span);
        var header = new byte[LocalHeader + nameBytes.Length];
        var h = header.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 10);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], Utf8Flag);
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], _dos.Time);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], _dos.Date);
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)content.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)content.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], 0);
        nameBytes.CopyTo(h[30..]);
        _central.Add((nameBytes, crc, (uint)content.Length, checked((uint)_offset)));
        await output.WriteAsync(header, ct);
        await output.WriteAsync(content, ct);
        _offset += header.Length + content.Length;
    }

    /// <summary>Writes the central directory and the end record.</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        var start = _offset;
        foreach (var (name, crc, size, offset) in _central)
        {
            var c = new byte[CentralHeader + name.Length];
            var s = c.AsSpan();
            BinaryPrimitives.WriteUInt32LittleEndian(s, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(s[4..], (3 << 8) | 20);
            BinaryPrimitives.WriteUInt16LittleEndian(s[6..], 10);
            BinaryPrimitives.WriteUInt16LittleEndian(s[8..], Utf8Flag);
            BinaryPrimitives.WriteUInt16LittleEndian(s[10..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(s[12..], _dos.Time);
            BinaryPrimitives.WriteUInt16LittleEndian(s[14..], _dos.Date);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(s[20..], size);
            BinaryPrimitives.WriteUInt32LittleEndian(s[24..], size);
            BinaryPrimitives.WriteUInt16LittleEndian(s[28..], (ushort)name.Length);
            // Extra, comment, disk start, internal attributes: zero; external: a regular file, rw-r--r--.
            BinaryPrimitives.WriteUInt32LittleEndian(s[38..], 0x81A4u << 16);
            BinaryPrimitives.WriteUInt32LittleEndian(s[42..], offset);
            name.CopyTo(s[46..]);
            await output.WriteAsync(c, ct);
            _offset += c.Length;
        }

        var end = new byte[EndRecord];
        var e = end.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)_central.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(e[10..], (ushort)_central.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], checked((uint)(_offset - start)));
        BinaryPrimitives.WriteUInt32LittleEndian(e[16..], checked((uint)start));
        await output.WriteAsync(end, ct);
        _offset += end.Length;
    }

    /// <summary>Bytes written so far.</summary>
    public long Written => _offset;

    private static (ushort Time, ushort Date) Dos(DateTimeOffset t)
    {
        var l = t.UtcDateTime;
        var year = Math.Clamp(l.Year, 1980, 2107);
        return ((ushort)((l.Hour << 11) | (l.Minute << 5) | (l.Second / 2)), (ushort)(((year - 1980) << 9) | (l.Month << 5) | l.Day));
    }
}

/// <summary>An export would not fit in a plain ZIP archive.</summary>
public sealed class ZipTooLargeException(string message) : Exception(message);
