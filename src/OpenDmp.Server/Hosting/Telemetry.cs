using System.Diagnostics;
using System.Net;
using Npgsql;
using OpenDmp.Core.Common;
using OpenDmp.Server.Fhir;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OpenDmp.Server.Hosting;

/// <summary>The Telemetry configuration section (docs/OPERATIONS.md, "Monitor").</summary>
public sealed class TelemetryOptions
{
    /// <summary>service.name of the resource (one per deployment; the instance is told apart by service.instance.id).</summary>
    public string ServiceName { get; set; } = "opendmp";

    /// <summary>OTLP collector (e.g. http://127.0.0.1:4318 with Protocol "http", or :4317 with "grpc"); none by default.</summary>
    public string? OtlpEndpoint { get; set; }

    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>Traces are recorded when an exporter takes them (OTLP configured) unless set explicitly.</summary>
    public bool? Tracing { get; set; }

    /// <summary>Share of root traces kept (parent-based), from 0 to 1.</summary>
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>The Prometheus scrape endpoint; false removes it.</summary>
    public bool Prometheus { get; set; } = true;

    public string PrometheusPath { get; set; } = "/metrics";

    /// <summary>Networks allowed to scrape, in CIDR notation, comma-separated (default: this machine only).</summary>
    public string PrometheusAllowedNetworks { get; set; } = "127.0.0.0/8,::1/128";

    /// <summary>When set, a scrape must also present "Authorization: Bearer" with this token.</summary>
    public string? PrometheusBearerToken { get; set; }

    public bool TracingEnabled => Tracing ?? !string.IsNullOrWhiteSpace(OtlpEndpoint);

    /// <summary>The allowed networks, parsed; throws with the key's name when one is not a CIDR range.</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworks()
    {
        var networks = new List<IPNetwork>();
        foreach (var part in PrometheusAllowedNetworks.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPNetwork.TryParse(part, out var network))
            {
                throw new InvalidOperationException($"Telemetry:PrometheusAllowedNetworks: '{part}' is not a network in CIDR notation (e.g. 10.0.0.0/8)");
            }

            networks.Add(network);
        }

        return networks;
    }
}

/// <summary>
/// OpenTelemetry traces and metrics: ASP.NET Core, HttpClient, Npgsql, the .NET runtime and OpenDMP's
/// own instruments (<see cref="DmpTelemetry"/>); a Prometheus scrape endpoint restricted to the
/// configured networks (and token); an OTLP exporter when configured. What leaves the process names
/// routes, never a request's path or query (they may carry an INS or a document id), and no
/// exception message.
/// </summary>
public static class Telemetry
{
    public static void AddOpenDmpTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Telemetry").Get<TelemetryOptions>() ?? new TelemetryOptions();
        services.AddSingleton(options);
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(options.ServiceName, serviceInstanceId: Environment.MachineName + "-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        otel.WithMetrics(m =>
        {
            m.AddMeter(DmpTelemetry.Name)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation();
            if (options.Prometheus)
            {
                m.AddPrometheusExporter();
            }

            if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
            {
                m.AddOtlpExporter(o => Otlp(o, options));
            }
        });
        if (!options.TracingEnabled)
        {
            return;
        }

        otel.WithTracing(t =>
        {
            t.SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(Math.Clamp(options.TraceSampleRatio, 0, 1))))
                .AddAspNetCoreInstrumentation(o =>
                {
                    o.RecordException = false;
                    o.Filter = context => !context.Request.Path.StartsWithSegments("/health", StringComparison.Ordinal) && !context.Request.Path.StartsWithSegments(options.PrometheusPath, StringComparison.Ordinal);
                    o.EnrichWithHttpResponse = (activity, response) => NameByRoute(activity, response.HttpContext);
                })
                .AddHttpClientInstrumentation(o =>
                {
                    o.RecordException = false;
                    o.EnrichWithHttpRequestMessage = (activity, request) =>
                    {
                        // The peer, not the path or query of the call.
                        if (request.RequestUri is { } uri)
                        {
                            activity.SetTag("url.full", uri.GetLeftPart(UriPartial.Authority));
                        }
                    };
                })
                .AddNpgsql();
            if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
            {
                t.AddOtlpExporter(o => Otlp(o, options));
            }
        });
    }

    /// <summary>The scrape endpoint, answering only the allowed networks (and the bearer token when one is configured).</summary>
    public static void MapOpenDmpMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<TelemetryOptions>();
        if (!options.Prometheus)
        {
            return;
        }

        var networks = options.AllowedNetworks();
        app.MapPrometheusScrapingEndpoint(options.PrometheusPath, meterProvider: null, configureBranchedPipeline: branch => branch.Use(async (context, next) =>
            {
                var remote = context.Connection.RemoteIpAddress;
                if (remote is null || !networks.Any(n => n.Contains(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote)))
                {
                    await Results.Problem("metrics are served to the monitoring networks only (Telemetry:PrometheusAllowedNetworks)", statusCode: 403).ExecuteAsync(context);
                    return;
                }

                if (options.PrometheusBearerToken is { Length: > 0 } token && !BearerMatches(context.Request.Headers.Authorization.ToString(), token))
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await Results.Problem("metrics require the monitoring token (Authorization: Bearer)", statusCode: 401).ExecuteAsync(context);
                    return;
                }

                await next(context);
            }), optionsName: null)
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "operator metrics: counters without patient data, restricted to the monitoring networks"));
    }

    private static bool BearerMatches(string header, string token)
    {
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = System.Text.Encoding.UTF8.GetBytes(header[prefix.Length..].Trim());
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, System.Text.Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Replaces the request's path by its route template and drops the query: a path or query may carry an INS, a document id or a search term.</summary>
    private static void NameByRoute(Activity activity, HttpContext context)
    {
        var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
        activity.SetTag("url.path", route is null ? null : "/" + route.TrimStart('/'));
        activity.SetTag("url.query", null);
    }

    private static void Otlp(OtlpExporterOptions o, TelemetryOptions options)
    {
        o.Endpoint = new Uri(options.OtlpEndpoint!);
        o.Protocol = string.Equals(options.OtlpProtocol, "http", StringComparison.OrdinalIgnoreCase) ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
    }
}
