using System.Collections.Concurrent;
using System.Net;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>
/// A practice software's notification endpoint on loopback (plain HTTP, the test servers allow it):
/// records every POST it answers with 200; while <see cref="Failing"/>, it answers 503 (an outage)
/// and records the attempt only as refused.
/// </summary>
public sealed class HookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private int _refused;

    public HookReceiver()
    {
        var port = FreePort();
        Url = $"http://127.0.0.1:{port}/hook/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public sealed record Received(string Body, string? Signature, string? ContentType, string? Authorization = null);

    public string Url { get; }

    public ConcurrentQueue<Received> Accepted { get; } = new();

    public bool Failing { get; set; }

    public int Refused => Volatile.Read(ref _refused);

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(ctx.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            if (Failing)
            {
                Interlocked.Increment(ref _refused);
                ctx.Response.StatusCode = 503;
            }
            else
            {
                Accepted.Enqueue(new Received(body, ctx.Request.Headers["X-OpenDMP-Signature"], ctx.Request.ContentType, ctx.Request.Headers["Authorization"]));
                ctx.Response.StatusCode = 200;
            }

            ctx.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (HttpListenerException)
        {
            // Seen once in a full run: tearing the listener down looked its port up again after
            // another test's server had taken it ("Address already in use"); the listener is gone anyway.
        }

        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
