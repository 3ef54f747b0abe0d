using BenchmarkDotNet.Attributes;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Microbench;

/// <summary>
/// The policy decision for a record with 50 grants (every mode, some expired or revoked, a group,
/// a delegation chain, an admission) and 500 documents (some masked, of every class). One
/// benchmark operation decides all 500 documents: the per-document cost is the mean / 500.
/// </summary>
[MemoryDiagnoser]
[InProcess]
public class PolicyBenchmarks
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly string[] Classes = ["10", "11", "42", "43", "44", "45"];
    private static readonly string[] Types = ["11488-4", "11502-2", "60591-5", "57833-6"];
    private AccessRequest _alleged = null!;
    private AccessRequest _group = null!;
    private AccessRequest _pharmacist = null!;
    private AccessRequest _treating = null!;
    private DocumentFacts[] _documents = null!;

    [GlobalSetup]
    public void Setup()
    {
        var grants = new List<GrantFacts>();
        for (var i = 0; i < 46; i++)
        {
            var mode = (i % 6) switch
            {
                0 => GrantMode.Alleged,
                1 => GrantMode.BreakGlass,
                2 => GrantMode.Centre15,
                3 => GrantMode.Alleged,
                4 => GrantMode.Delegation,
                _ => GrantMode.Alleged,
            };
            grants.Add(new GrantFacts("g" + i, mode, "pro" + i, Now.AddDays(-60 + i), Now.AddDays(-30 + i), i % 7 == 0 ? Now.AddDays(-1) : null, DelegatingGrantId: mode == GrantMode.Delegation ? "g0" : null));
        }

        grants.Add(new GrantFacts("grp", GrantMode.Group, "pro-g", Now.AddDays(-1), Now.AddDays(29), GroupId: "msp", Excluded: new HashSet<string> { "pro-x" }));
        grants.Add(new GrantFacts("adm", GrantMode.Admission, "hosp", Now.AddDays(-2), Now.AddDays(5)));
        grants.Add(new GrantFacts("ct", GrantMode.CareTeam, "pro-ct", Now.AddDays(-2), Now.AddDays(5), AdmissionId: "adm"));
        // The actor's grant is the last one: the worst case of the scan.
        grants.Add(new GrantFacts("mine", GrantMode.Alleged, "me", Now.AddDays(-1), Now.AddDays(29)));
        var record = new RecordFacts("r1", RecordStatus.Open, "gp", RecordSettings.Default, grants, new HashSet<string> { "blocked1", "blocked2" });
        _documents = Enumerable.Range(0, 500).Select(i => new DocumentFacts(
            "d" + i, i % 3 == 0 ? "me" : "pro" + (i % 40), null, Classes[i % Classes.Length], Types[i % Types.Length], Masked: i % 10 == 0)).ToArray();
        var facts = new ActorFacts(new HashSet<string>(), true);
        _alleged = new AccessRequest(new Actor(ActorKind.Professional, "me", "me", "10"), AccessAction.ReadDocument, record, null, facts, Now, PolicySettings.Default);
        _group = _alleged with { Actor = new Actor(ActorKind.Professional, "member", "member", "10"), ActorFacts = new ActorFacts(new HashSet<string> { "msp" }, true) };
        _pharmacist = _alleged with { Actor = new Actor(ActorKind.Professional, "me", "me", "21") };
        _treating = _alleged with { Actor = new Actor(ActorKind.Professional, "gp", "gp", "10") };
    }

    private int DecideAll(AccessRequest request)
    {
        var permitted = 0;
        foreach (var d in _documents)
        {
            if (AccessPolicy.Decide(request with { Document = d }).Permitted)
            {
                permitted++;
            }
        }

        return permitted;
    }

    [Benchmark(OperationsPerInvoke = 500, Description = "per document, alleged consent (worst-case grant scan)")]
    public int AllegedPerDocument() => DecideAll(_alleged);

    [Benchmark(OperationsPerInvoke = 500, Description = "per document, group member")]
    public int GroupPerDocument() => DecideAll(_group);

    [Benchmark(OperationsPerInvoke = 500, Description = "per document, pharmacist (matrix)")]
    public int PharmacistPerDocument() => DecideAll(_pharmacist);

    [Benchmark(OperationsPerInvoke = 500, Description = "per document, treating physician")]
    public int TreatingPerDocument() => DecideAll(_treating);

    [Benchmark(Description = "search decision (scope for SQL)")]
    public AccessDecision SearchDecision() => AccessPolicy.Decide(_alleged with { Action = AccessAction.SearchRecord });
}
