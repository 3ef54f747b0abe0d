using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>
/// Everything a server emits: log entries at every level (with their scopes and structured values),
/// spans and metrics through OpenTelemetry's in-memory exporters. Installed through the server's
/// logging hook.
/// </summary>
public sealed class TelemetryCapture : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider? _scopes;

    public ConcurrentQueue<string> Logs { get; } = new();

    /// <summary>Exporters add from the threads that end spans; readers take a copy under the same lock.</summary>
    public LockedCollection<Activity> Spans { get; } = new();

    public LockedCollection<MetricSnapshot> Metrics { get; } = new();

    /// <summary>Adds the capture to the server: every log level of OpenDMP's own categories, every span, every metric.</summary>
    public void Install(ILoggingBuilder logging)
    {
        logging.SetMinimumLevel(LogLevel.Trace);
        logging.AddProvider(this);
        logging.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(Spans));
        logging.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(Metrics));
    }

    /// <summary>Exports what the providers hold (spans end asynchronously: waits for the batch).</summary>
    public static void Flush(IServiceProvider services)
    {
        services.GetService<TracerProvider>()?.ForceFlush();
        services.GetRequiredService<MeterProvider>().ForceFlush();
    }

    /// <summary>Every text that left the process through logs, spans and metric tags, with where it came from.</summary>
    public IEnumerable<(string Where, string Text)> Everything()
    {
        foreach (var log in Logs)
        {
            yield return ("log", log);
        }

        foreach (var span in Spans.Snapshot())
        {
            var where = "span " + span.Source.Name + " " + span.DisplayName;
            yield return (where, span.DisplayName + " " + span.StatusDescription);
            foreach (var tag in span.TagObjects)
            {
                yield return (where, tag.Key + "=" + Convert.ToString(tag.Value, CultureInfo.InvariantCulture));
            }

            foreach (var e in span.Events)
            {
                yield return (where, e.Name + " " + string.Join(" ", e.Tags.Select(t => t.Key + "=" + Convert.ToString(t.Value, CultureInfo.InvariantCulture))));
            }

            foreach (var b in span.Baggage)
            {
                yield return (where, b.Key + "=" + b.Value);
            }
        }

        foreach (var metric in Metrics.Snapshot())
        {
            foreach (var point in metric.MetricPoints)
            {
                foreach (var tag in point.Tags)
                {
                    yield return ("metric " + metric.Name, tag.Key + "=" + Convert.ToString(tag.Value, CultureInfo.InvariantCulture));
                }
            }
        }
    }

    /// <summary>The sum of a counter's points over the last export (optionally only points with the given tag).</summary>
    public long Sum(string metric, string? tag = null, string? value = null)
    {
        var last = Metrics.Snapshot().LastOrDefault(m => m.Name == metric);

        if (last is null)
        {
            return -1;
        }

        long sum = 0;
        foreach (var point in last.MetricPoints)
        {
            var matches = tag is null;
            foreach (var t in point.Tags)
            {
                matches |= t.Key == tag && Equals(Convert.ToString(t.Value, CultureInfo.InvariantCulture), value);
            }

            if (matches)
            {
                sum += last.MetricType is MetricType.LongGauge ? point.GetGaugeLastValueLong() : point.GetSumLong();
            }
        }

        return sum;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(TelemetryCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = new System.Text.StringBuilder($"{logLevel} {category}: {formatter(state, exception)}");
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    text.Append(" | ").Append(key).Append('=').Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                }
            }

            owner._scopes?.ForEachScope((scope, sb) => sb.Append(" | scope ").Append(Convert.ToString(scope, CultureInfo.InvariantCulture)).Append(scope is IEnumerable<KeyValuePair<string, object?>> kv ? " " + string.Join(",", kv.Select(p => p.Key + "=" + p.Value)) : string.Empty), text);
            if (exception is not null)
            {
                text.Append(" | ").Append(exception);
            }

            owner.Logs.Enqueue(text.ToString());
        }
    }
}

/// <summary>A list that exporters fill from several threads.</summary>
public sealed class LockedCollection<T> : ICollection<T>
{
    private readonly List<T> _items = [];

    public int Count
    {
        get
        {
            lock (_items)
            {
                return _items.Count;
            }
        }
    }

    public bool IsReadOnly => false;

    public List<T> Snapshot()
    {
        lock (_items)
        {
            return [.. _items];
        }
    }

    public void Add(T item)
    {
        lock (_items)
        {
            _items.Add(item);
        }
    }

    public void Clear()
    {
        lock (_items)
        {
            _items.Clear();
        }
    }

    public bool Contains(T item) => Snapshot().Contains(item);

    public void CopyTo(T[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

    public bool Remove(T item)
    {
        lock (_items)
        {
            return _items.Remove(item);
        }
    }

    public IEnumerator<T> GetEnumerator() => Snapshot().GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
