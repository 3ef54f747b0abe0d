using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;

namespace OpenDmp.Core.Exports;

/// <summary>
/// Passphrase encryption in the age format (age-encryption.org/v1, one scrypt recipient stanza):
/// the key is stretched by scrypt (memory-hard), the payload is sealed by ChaCha20-Poly1305 in
/// 64 KiB chunks (the STREAM construction: a truncated or reordered file is refused), so it is
/// written as it is produced and read by the <c>age</c> tool anyone can install (ADR 0034).
/// </summary>
public static class AgeEncryption
{
    public const string Version = "age-encryption.org/v1";
    public const int ChunkSize = 64 * 1024;
    private const int TagSize = 16;
    private const int NonceSize = 16;
    private const string ScryptLabel = "age-encryption.org/v1/scrypt";

    /// <summary>The header's length for one scrypt stanza of the given work factor (it does not depend on the random values).</summary>
    public static int HeaderLength(int logN) => Header(new byte[16], new byte[32], logN, new byte[32]).Length;

    /// <summary>The encrypted file's exact length for a plaintext of <paramref name="plaintextLength"/> bytes.</summary>
    public static long EncryptedLength(long plaintextLength, int logN)
    {
        var chunks = plaintextLength == 0 ? 1 : (plaintextLength + ChunkSize - 1) / ChunkSize;
        return HeaderLength(logN) + NonceSize + plaintextLength + (chunks * TagSize);
    }

    /// <summary>Writes the header to <paramref name="output"/> and returns a stream that encrypts what is written to it (dispose it to write the last chunk).</summary>
    public static async Task<Stream> EncryptAsync(Stream output, string passphrase, int logN, CancellationToken ct)
    {
        if (logN is < 10 or > 22)
        {
            throw new ArgumentOutOfRangeException(nameof(logN), logN, "the scrypt work factor must be between 10 and 22 (age refuses more than 22 by default)");
        }

        var fileKey = RandomNumberGenerator.GetBytes(16);
        var salt = RandomNumberGenerator.GetBytes(16);
        var wrapKey = SCrypt.Generate(Encoding.UTF8.GetBytes(passphrase), [.. Encoding.ASCII.GetBytes(ScryptLabel), .. salt], 1 << logN, 8, 1, 32);
        var wrapped = new byte[32];
        using (var aead = new ChaCha20Poly1305(wrapKey))
        {
            aead.Encrypt(new byte[12], fileKey, wrapped.AsSpan(0, 16), wrapped.AsSpan(16, 16));
        }

        var headerKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey, 32, [], Encoding.ASCII.GetBytes("header"));
        var unsigned = Encoding.ASCII.GetBytes(HeaderBody(salt, logN, wrapped));
        var mac = HMACSHA256.HashData(headerKey, unsigned);
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        // One write: the header, its MAC, the payload nonce (asynchronous: a response body refuses synchronous writes).
        await output.WriteAsync((byte[])[.. unsigned, .. Encoding.ASCII.GetBytes(" " + B64(mac) + "\n"), .. nonce], ct);
        var payloadKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey, 32, nonce, Encoding.ASCII.GetBytes("payload"));
        return new StreamWriterStream(output, payloadKey);
    }

    private static byte[] Header(byte[] salt, byte[] fileKeyWrapped, int logN, byte[] mac) =>
        Encoding.ASCII.GetBytes(HeaderBody(salt, logN, fileKeyWrapped) + " " + B64(mac) + "\n");

    // Up to and including "---": the part the header MAC covers.
    private static string HeaderBody(byte[] salt, int logN, byte[] wrapped) =>
        $"{Version}\n-> scrypt {B64(salt)} {logN}\n{B64(wrapped)}\n---";

    private static string B64(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    /// <summary>Encrypts chunk by chunk; a chunk is sealed once the next byte arrives (or at dispose, as the last one).</summary>
    private sealed class StreamWriterStream(Stream output, byte[] key) : Stream
    {
        private readonly ChaCha20Poly1305 _aead = new(key);
        private readonly byte[] _buffer = new byte[ChunkSize];
        private readonly byte[] _sealed = new byte[ChunkSize + TagSize];
        private int _filled;
        private ulong _counter;
        private bool _done;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            while (buffer.Length > 0)
            {
                if (_filled == ChunkSize)
                {
                    Seal(last: false);
                }

                var n = Math.Min(buffer.Length, ChunkSize - _filled);
                buffer[..n].CopyTo(_buffer.AsSpan(_filled));
                _filled += n;
                buffer = buffer[n..];
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            while (buffer.Length > 0)
            {
                if (_filled == ChunkSize)
                {
                    var length = SealInto(last: false);
                    await output.WriteAsync(_sealed.AsMemory(0, length), cancellationToken);
                }

                var n = Math.Min(buffer.Length, ChunkSize - _filled);
                buffer.Span[..n].CopyTo(_buffer.AsSpan(_filled));
                _filled += n;
                buffer = buffer[n..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

        /// <summary>Seals the last chunk (required: without it the file is refused as truncated).</summary>
        public override async ValueTask DisposeAsync()
        {
            if (!_done)
            {
                var length = SealInto(last: true);
                await output.WriteAsync(_sealed.AsMemory(0, length));
                _done = true;
                _aead.Dispose();
            }

            await base.DisposeAsync();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_done)
            {
                Seal(last: true);
                _done = true;
                _aead.Dispose();
            }

            base.Dispose(disposing);
        }

        private void Seal(bool last) => output.Write(_sealed, 0, SealInto(last));

        private int SealInto(bool last)
        {
            Span<byte> nonce = stackalloc byte[12];
            BinaryPrimitives.WriteUInt64BigEndian(nonce[3..11], _counter++);
            nonce[11] = last ? (byte)1 : (byte)0;
            _aead.Encrypt(nonce, _buffer.AsSpan(0, _filled), _sealed.AsSpan(0, _filled), _sealed.AsSpan(_filled, TagSize));
            var length = _filled + TagSize;
            _filled = 0;
            return length;
        }
    }
}
