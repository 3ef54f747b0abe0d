using System.Collections.Concurrent;

namespace OpenDmp.Server.Patients;

/// <summary>
/// Slows down whoever fails to sign in from one address, whatever the account: after
/// <see cref="PatientAuthOptions.AddressFailuresBeforeBackoff"/> failures, each further attempt must
/// wait twice as long as the previous (up to <see cref="PatientAuthOptions.AddressBackoffMax"/>). The
/// answer (429 with Retry-After) depends on the address only, never on an account's state.
/// </summary>
public sealed class LoginThrottle(PatientAuthOptions options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (int Failures, DateTimeOffset Until)> _addresses = new(StringComparer.Ordinal);

    /// <summary>How long this address must still wait, or null.</summary>
    public TimeSpan? Wait(string address)
    {
        var now = time.GetUtcNow();
        return _addresses.TryGetValue(address, out var s) && s.Until > now ? s.Until - now : null;
    }

    public void Failed(string address)
    {
        if (_addresses.Count > 100_000)
        {
            _addresses.Clear();
        }

        var now = time.GetUtcNow();
        _addresses.AddOrUpdate(address, _ => (1, now), (_, s) =>
        {
            var failures = s.Failures + 1;
            var over = failures - options.AddressFailuresBeforeBackoff;
            if (over <= 0)
            {
                return (failures, now);
            }

            var seconds = Math.Min(options.AddressBackoffMax.TotalSeconds, Math.Pow(2, Math.Min(over, 20)));
            return (failures, now + TimeSpan.FromSeconds(seconds));
        });
    }

    public void Succeeded(string address) => _addresses.TryRemove(address, out _);
}
