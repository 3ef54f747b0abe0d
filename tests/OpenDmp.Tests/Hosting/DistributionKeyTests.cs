using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// The schema can be distributed by record (design D16, docs/SCALING.md): every table holding a
/// patient's data has a non-null record_id first in its primary key and in each of its unique keys,
/// so that Citus places all of a record's rows on one node and every write of a record is local.
/// Every other table is reviewed here, with the reason it is not distributed by record.
/// </summary>
public sealed class DistributionKeyTests
{
    private static readonly Dictionary<string, string> NotByRecord = new(StringComparer.Ordinal)
    {
        ["professionals"] = "directory (reference table): no patient data",
        ["organizations"] = "directory (reference table): no patient data",
        ["practitioner_activities"] = "directory (reference table): professionals' activities from the national RPPS extraction, no patient data",
        ["identity_duplicates"] = "identity-vigilance queue: a pair of records (two distribution keys), ids, a score and which traits agreed; no clinical content",
        ["directory_places"] = "directory (reference table): communes' positions learnt from the FINESS extraction, no patient data",
        ["care_groups"] = "directory: group practices",
        ["care_group_members"] = "directory: group practices",
        ["staff_members"] = "directory: staff cards (secretaries, assistants), no patient data",
        ["staff_assignments"] = "directory: which professional a staff member works for, no patient data",
        ["issued_certificates"] = "PKI: certificates of professionals",
        ["certificate_revocations"] = "PKI: revocations",
        ["vihf_assertions"] = "the IDs of VIHF assertions already used (replay detection shared by the instances): no patient data",
        ["terminology_imports"] = "reference data (ANS terminologies)",
        ["research_studies"] = "platform data: the authorisations of public-health studies (no patient)",
        ["research_extracts"] = "platform data: the state and counts of each study extract (no patient; the pseudonymised files are outside the database)",
        ["data_protection_keys"] = "the instances' key ring: no patient data",
        ["audit_checkpoints"] = "signed checkpoints over every chain's head (reference table; the heads are in audit_checkpoint_heads, by record)",
        ["patient_identifiers"] = "the lookup from an identifier (INS) to its record: distributed by identifier, the way in to a record",
        ["subscriptions"] = "a professional's subscriptions (ADR 0024): routed by professional; a filter names at most one record they were allowed to read; no clinical content",
        ["access_signals"] = "signals of improper access (issue 20): about professionals, routed by professional; counts and at most a record id, no clinical content",
        ["inbound_messages"] = "the deposit mailbox's journal: a message is journaled before its patient is known (it may name none); ids and outcomes only, no clinical content; distributed by message key",
    };

    private static List<Microsoft.EntityFrameworkCore.Metadata.IEntityType> Tables()
    {
        using var db = new DmpDbContext(new DbContextOptionsBuilder<DmpDbContext>().UseSqlite("Data Source=:memory:").Options);
        return [.. db.Model.GetEntityTypes().Where(e => e.GetTableName() is not null)];
    }

    [Fact]
    public void EveryTableWithPatientData_HasRecordIdFirstInItsPrimaryKeyAndInEveryUniqueKey()
    {
        var problems = new List<string>();
        var byRecord = 0;
        foreach (var table in Tables())
        {
            var name = table.GetTableName()!;
            var recordId = table.GetProperties().SingleOrDefault(p => p.GetColumnName() == "record_id");
            if (NotByRecord.ContainsKey(name))
            {
                continue;
            }

            if (recordId is null)
            {
                problems.Add($"{name}: no record_id column, and not reviewed as a table without patient data");
                continue;
            }

            byRecord++;
            if (recordId.IsNullable)
            {
                problems.Add($"{name}: record_id is nullable");
            }

            var key = table.FindPrimaryKey()!.Properties.Select(p => p.GetColumnName()).ToList();
            if (key[0] != "record_id")
            {
                problems.Add($"{name}: primary key ({string.Join(", ", key)}) does not start with record_id");
            }

            foreach (var unique in table.GetIndexes().Where(i => i.IsUnique))
            {
                var columns = unique.Properties.Select(p => p.GetColumnName()).ToList();
                if (!columns.Contains("record_id"))
                {
                    problems.Add($"{name}: unique key ({string.Join(", ", columns)}) without record_id");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.True(byRecord >= 20, $"only {byRecord} tables distributed by record");
    }

    [Fact]
    public void EveryReviewedException_IsStillATable()
    {
        var names = Tables().Select(t => t.GetTableName()).ToHashSet(StringComparer.Ordinal);
        Assert.All(NotByRecord.Keys, k => Assert.Contains(k, names));
    }
}
