namespace OpenDmp.Core.Directory;

/// <summary>A health professional of the directory (shared reference data, no patient data).</summary>
public sealed class Professional
{
    public required string Id { get; set; }
    /// <summary>RPPS number (11 digits) when the professional has one.</summary>
    public string? Rpps { get; set; }
    /// <summary>Identifier system for professionals without RPPS (e.g. imported directories).</summary>
    public string? IdentifierSystem { get; set; }
    public string? IdentifierValue { get; set; }
    public required string Family { get; set; }
    public required string Given { get; set; }
    /// <summary>The names as searched (<see cref="SearchKeys"/>): kept in step with Family and Given, never set.</summary>
    public string SearchName { get => SearchKeys.Words(Family, Given); private set { } }
    public string? Prefix { get; set; }
    public string? ProfessionCode { get; set; }
    public string? SpecialtyCode { get; set; }
    public string? SpecialtyDisplay { get; set; }
    public string? OrganizationId { get; set; }
    public string? Email { get; set; }
    /// <summary>Holds the access-review role: reviews the signals of improper access (issue 20).</summary>
    public bool AccessReviewer { get; set; }
    /// <summary>Holds the identity-vigilance role: reviews the possible duplicate identities (issue 19).</summary>
    public bool IdentityOfficer { get; set; }
    /// <summary>The professional's secure-messaging certificate (PEM): senders encrypt for it.</summary>
    public string? MessagingCertificate { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set when the professional is deactivated: no authentication, no deposit, no sending.</summary>
    public DateTimeOffset? DeactivatedAt { get; set; }
    /// <summary>Every certificate of this professional issued before this time is revoked (stolen or lost card).</summary>
    public DateTimeOffset? CertificatesRevokedBefore { get; set; }
    /// <summary>"rpps" when the national directory's extraction feeds this entry (<see cref="Import.DirectoryImporter"/>); null when added by hand.</summary>
    public string? Source { get; set; }
    /// <summary>The deactivation came from the national directory (absent from its last extraction): a later extraction that lists the professional again reactivates them.</summary>
    public bool DeactivatedByImport { get; set; }
    /// <summary>Hash of the fields the national directory gives, to tell an unchanged line from an update.</summary>
    public string? ContentHash { get; set; }
    public DateTimeOffset? UpdatedAt { get; set; }

    public string DisplayName => string.IsNullOrEmpty(Prefix) ? $"{Given} {Family}" : $"{Prefix} {Given} {Family}";
}

/// <summary>A health organisation (FINESS or imported identifier).</summary>
public sealed class Organization
{
    public required string Id { get; set; }
    public string? Finess { get; set; }
    public string? IdentifierSystem { get; set; }
    public string? IdentifierValue { get; set; }
    public required string Name { get; set; }
    /// <summary>The name and the city as searched (<see cref="SearchKeys"/>).</summary>
    public string SearchName { get => SearchKeys.Words(Name); private set { } }
    public string SearchCity { get => SearchKeys.Words(City); private set { } }
    public string? TypeCode { get; set; }
    /// <summary>The FINESS category label (catégorie d'établissement), e.g. "Pharmacie d'Officine".</summary>
    public string? TypeLabel { get; set; }
    /// <summary>The legal entity's FINESS (entité juridique).</summary>
    public string? FinessLegalEntity { get; set; }
    public string? AddressLine { get; set; }
    public string? PostalCode { get; set; }
    /// <summary>INSEE code of the commune (5 characters).</summary>
    public string? CommuneCode { get; set; }
    public string? City { get; set; }
    /// <summary>Département code (01…95, 2A, 2B, 971…976).</summary>
    public string? DepartmentCode { get; set; }
    public string? Phone { get; set; }
    /// <summary>WGS 84 position (from the FINESS geolocation, Lambert-93 or UTM converted), or the commune's position.</summary>
    public double? Latitude { get; set; }
    public double? Longitude { get; set; }
    /// <summary>True when the position is the establishment's own (FINESS geolocation), false when it is its commune's.</summary>
    public bool PositionExact { get; set; }
    /// <summary>"finess" when the national FINESS extraction feeds this entry; null when added by hand.</summary>
    public string? Source { get; set; }
    public string? ContentHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? UpdatedAt { get; set; }
    /// <summary>Set when the establishment left the FINESS extraction (closed).</summary>
    public DateTimeOffset? DeactivatedAt { get; set; }
}

/// <summary>
/// One activity of a professional at one site, as the national directory (RPPS, annuaire santé) lists
/// it: the mCSD PractitionerRole, with the site's address as its Location. Reference data.
/// </summary>
public sealed class PractitionerActivity
{
    /// <summary>Stable id derived from the professional and the activity's key (re-imports find it again).</summary>
    public required string Id { get; set; }
    public required string ProfessionalId { get; set; }
    public string? ProfessionCode { get; set; }
    public string? ProfessionLabel { get; set; }
    /// <summary>Type of savoir-faire (S: spécialité ordinale, CEX: compétence exclusive, …).</summary>
    public string? SkillType { get; set; }
    public string? SkillCode { get; set; }
    public string? SkillLabel { get; set; }
    /// <summary>Mode of practice: L (libéral), S (salarié), B (bénévole).</summary>
    public string? PracticeMode { get; set; }
    public string? SectorCode { get; set; }
    public string? SiteName { get; set; }
    public string? SiteFiness { get; set; }
    /// <summary>The directory's technical id of the structure.</summary>
    public string? SiteStructureId { get; set; }
    public string? AddressLine { get; set; }
    public string? PostalCode { get; set; }
    public string? CommuneCode { get; set; }
    public string? City { get; set; }
    public string SearchCity { get => SearchKeys.Words(City); private set { } }
    public string? DepartmentCode { get; set; }
    public string? Phone { get; set; }
    public double? Latitude { get; set; }
    public double? Longitude { get; set; }
    public bool PositionExact { get; set; }
    public string? ContentHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? UpdatedAt { get; set; }
    /// <summary>Set when the activity left the directory's extraction.</summary>
    public DateTimeOffset? EndedAt { get; set; }
}

/// <summary>
/// A commune's position, learnt from the geolocated establishments of the FINESS extraction (the
/// mean of their positions): places activities without a geolocated site and centres a search near a
/// postal code or a city, with no outside geocoding service.
/// </summary>
public sealed class DirectoryPlace
{
    /// <summary>INSEE code of the commune.</summary>
    public required string CommuneCode { get; set; }
    public required string PostalCode { get; set; }
    public required string City { get; set; }
    public string SearchCity { get => SearchKeys.Words(City); private set { } }
    public string? DepartmentCode { get; set; }
    public double Latitude { get; set; }
    public double Longitude { get; set; }
    /// <summary>How many geolocated establishments the position is the mean of.</summary>
    public int Sources { get; set; }
}

/// <summary>
/// A staff member (medical secretary, pharmacy assistant; the report's chapter V): no profession of
/// their own, authenticated by their own staff card (certificate serialNumber "3" + identifier), acting
/// only for the professionals who declared them (<see cref="StaffAssignment"/>).
/// </summary>
public sealed class StaffMember
{
    public required string Id { get; set; }
    /// <summary>The staff card's identifier (unique).</summary>
    public required string Identifier { get; set; }
    public required string Family { get; set; }
    public required string Given { get; set; }
    /// <summary>The structure employing them, when known.</summary>
    public string? OrganizationId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set when the staff member leaves: no authentication any more.</summary>
    public DateTimeOffset? DeactivatedAt { get; set; }

    public string DisplayName => $"{Given} {Family}";
}

/// <summary>A professional's declaration that a staff member works for them, with what they may do.</summary>
public sealed class StaffAssignment
{
    public required string Id { get; set; }
    public required string StaffId { get; set; }
    public required string ProfessionalId { get; set; }
    /// <summary>The professional lets the staff member read content (within the professional's own rights); false by default.</summary>
    public bool MayRead { get; set; }
    /// <summary>Who declared it: the professional, or the operator for a structure.</summary>
    public required string DeclaredBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
}

/// <summary>
/// Search keys of the directory: words in capitals without accents, separated by one space and
/// framed by spaces (" SAINT ETIENNE "), so that a search by any word's beginning is the same on
/// SQLite (whose upper() knows only ASCII) and PostgreSQL, whatever accents and hyphens the user types.
/// </summary>
public static class SearchKeys
{
    public static string Words(params string?[] parts) =>
        " " + string.Join(' ', parts.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => Identity.DuplicateScoring.Normalize(p!)).Where(p => p.Length > 0)) + " ";

    /// <summary>
    /// Computes the keys of rows written before they existed (a column added empty): once, at the
    /// first start after the upgrade, in batches; afterwards each check is one lookup in an index
    /// holding only the rows still empty (a key is never empty; an organisation's two keys are written together).
    /// </summary>
    public static async Task<int> BackfillAsync(Storage.DmpDbContext db, CancellationToken ct)
    {
        var done = 0;
        done += await BatchesAsync(db, () => db.Professionals.Where(p => p.SearchName == string.Empty), ct, nameof(Professional.SearchName));
        done += await BatchesAsync(db, () => db.Organizations.Where(o => o.SearchName == string.Empty), ct, nameof(Organization.SearchName), nameof(Organization.SearchCity));
        done += await BatchesAsync(db, () => db.PractitionerActivities.Where(a => a.SearchCity == string.Empty), ct, nameof(PractitionerActivity.SearchCity));
        done += await BatchesAsync(db, () => db.DirectoryPlaces.Where(p => p.SearchCity == string.Empty), ct, nameof(DirectoryPlace.SearchCity));
        return done;
    }

    private static async Task<int> BatchesAsync<T>(Storage.DmpDbContext db, Func<IQueryable<T>> rows, CancellationToken ct, params string[] keys)
        where T : class
    {
        var done = 0;
        while (true)
        {
            // The keys are computed from the other columns: marking them modified writes them.
            var batch = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(rows().Take(5000), ct);
            if (batch.Count == 0)
            {
                return done;
            }

            foreach (var row in batch)
            {
                foreach (var key in keys)
                {
                    db.Entry(row).Property(key).IsModified = true;
                }
            }

            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();
            done += batch.Count;
        }
    }

    /// <summary>What a search term must find in a key: the beginning of a word (" ETIEN"), or of words in a row (" SAINT ET").</summary>
    public static string Prefix(string term) => " " + Identity.DuplicateScoring.Normalize(term);
}
