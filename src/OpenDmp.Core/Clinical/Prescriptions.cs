using System.Globalization;
using System.Security.Cryptography;
using Hl7.Fhir.Model;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// The rules of a medication prescription and of its dispensing (ADR 0018): the prescription
/// identifier, the quantity per dispensing and the renewals, the validity period, and the execution
/// state the prescriber and the pharmacist see.
/// </summary>
public static class Prescriptions
{
    /// <summary>The identifier system of prescription identifiers OpenDMP assigns.</summary>
    public const string IdentifierSystem = "urn:opendmp:prescription";

    /// <summary>The extension carrying the execution state of a prescription line (computed when read).</summary>
    public const string DispensingExtension = "urn:opendmp:extension:dispensing";

    /// <summary>ANSM substance codes (SMS), the code the ANS e-prescription IG names first.</summary>
    public const string SubstanceSystem = "http://data.esante.gouv.fr/ansm/medicament/codeSMS";

    /// <summary>A first dispensing takes place within three months of the prescription (CSP R.5132-22).</summary>
    public static readonly TimeSpan FirstDispensingWithin = TimeSpan.FromDays(92);

    /// <summary>Without a validity period, dispensing (renewals included) ends twelve months after the prescription.</summary>
    public const int DefaultValidityMonths = 12;

    /// <summary>At most this many renewals (a year of monthly dispensing).</summary>
    public const int MaxRepeats = 12;

    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// <summary>
    /// A new prescription identifier: 80 random bits in Crockford base 32, as four groups of four
    /// (e.g. 7K2M-Q9XD-…), readable aloud and typed on the paper copy when the QR code cannot be read.
    /// Unguessable, but never an access key: retrieval also needs the patient and the ordinary rights.
    /// </summary>
    public static string NewIdentifier()
    {
        Span<byte> bytes = stackalloc byte[10];
        RandomNumberGenerator.Fill(bytes);
        var chars = new char[19];
        ulong acc = 0;
        int bits = 0, n = 0, b = 0;
        while (n < 16)
        {
            if (bits < 5)
            {
                acc = (acc << 8) | bytes[b++];
                bits += 8;
            }

            var v = (int)((acc >> (bits - 5)) & 31);
            bits -= 5;
            chars[n + (n / 4)] = Alphabet[v];
            n++;
            if (n % 4 == 0 && n < 16)
            {
                chars[n + (n / 4) - 1] = '-';
            }
        }

        return new string(chars);
    }

    /// <summary>Whether a client-supplied prescription identifier is acceptable (printable, bounded).</summary>
    public static bool IsAcceptableIdentifier(string? value) =>
        value is { Length: >= 8 and <= 64 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    /// <summary>The coding that names a medication: the ANSM substance code when present, else the first coding with a system and a code.</summary>
    public static Coding? MedicationCoding(CodeableConcept? concept) =>
        concept?.Coding.FirstOrDefault(c => c.System == SubstanceSystem && !string.IsNullOrEmpty(c.Code))
        ?? concept?.Coding.FirstOrDefault(c => !string.IsNullOrEmpty(c.System) && !string.IsNullOrEmpty(c.Code));

    /// <summary>The medication of a request or dispense: medicationCodeableConcept, or the code of the contained Medication it references.</summary>
    public static CodeableConcept? MedicationConcept(DataType? medication, IEnumerable<Resource> contained) => medication switch
    {
        CodeableConcept cc => cc,
        ResourceReference { Reference: { } r } when r.StartsWith('#') => contained.OfType<Medication>().FirstOrDefault(m => m.Id == r[1..])?.Code,
        _ => null,
    };

    /// <summary>The end of the validity period of a prescription line.</summary>
    public static DateTimeOffset ValidUntil(MedicationRequest request, DateTimeOffset authoredOn)
    {
        if (request.DispenseRequest?.ValidityPeriod?.End is { } end
            && DateTimeOffset.TryParse(end, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            // A date without time covers the whole day; stored in UTC like every instant.
            return (end.Length <= 10 ? parsed.AddDays(1).AddTicks(-1) : parsed).ToUniversalTime();
        }

        return authoredOn.AddMonths(DefaultValidityMonths);
    }

    /// <summary>Why a dispensing of <paramref name="quantity"/> is refused for this line, or null when it is allowed.</summary>
    public static string? RefusalOf(ClinicalEntry line, double alreadyDispensed, double quantity, DateTimeOffset now)
    {
        var unit = line.Unit is null ? string.Empty : " " + line.Unit;
        if (line.ValidUntil is { } until && now > until)
        {
            return $"the prescription is no longer valid (its validity ended on {until:yyyy-MM-dd}): it cannot be dispensed any more";
        }

        if (alreadyDispensed <= 0 && line.Date is { } written && now > written + FirstDispensingWithin)
        {
            return $"a prescription is first dispensed within three months (written on {written:yyyy-MM-dd}): it cannot be dispensed any more";
        }

        var perFill = line.Quantity ?? 0;
        var fills = 1 + (line.Repeats ?? 0);
        var allowed = perFill * fills;
        if (alreadyDispensed >= allowed - 1e-9)
        {
            return fills == 1
                ? $"the prescription has been dispensed in full ({Format(perFill)}{unit}) and allows no renewal"
                : $"no renewal remains: the prescription allows {fills} dispensings of {Format(perFill)}{unit} ({fills - 1} renewals) and all of them have been made";
        }

        if (alreadyDispensed + quantity > allowed + 1e-9)
        {
            return $"the quantity exceeds what remains to be dispensed under this prescription ({Format(allowed - alreadyDispensed)}{unit}, renewals included)";
        }

        return null;
    }

    /// <summary>The execution of a line given the quantity dispensed so far.</summary>
    public static Execution ExecutionOf(ClinicalEntry line, double dispensed, DateTimeOffset? lastDispensed)
    {
        var perFill = line.Quantity is > 0 ? line.Quantity.Value : 1;
        var repeats = line.Repeats ?? 0;
        var fillsStarted = dispensed <= 0 ? 0 : (int)Math.Ceiling((dispensed / perFill) - 1e-9);
        var state = dispensed <= 0 ? "not-executed"
            : Math.Abs((dispensed / perFill) - Math.Round(dispensed / perFill)) > 1e-9 ? "partially-executed"
            : "executed";
        // Renewals that may still start: the first dispensing is not a renewal.
        var renewalsRemaining = Math.Max(0, Math.Min(repeats, 1 + repeats - fillsStarted));

        var complete = dispensed >= (perFill * (1 + repeats)) - 1e-9;
        return new Execution(state, dispensed, renewalsRemaining, complete, lastDispensed);
    }

    /// <summary>The state of a whole prescription from its lines: executed when every line is, partially when some is.</summary>
    public static string PrescriptionState(IEnumerable<Execution> lines)
    {
        var list = lines.ToList();
        return list.All(l => l.State == "not-executed") ? "not-executed"
            : list.All(l => l.State == "executed") ? "executed"
            : "partially-executed";
    }

    /// <summary>The line as a reader gets it: the stored resource with its execution (when the reader may see the dispensing).</summary>
    public static MedicationRequest Annotate(MedicationRequest request, Execution? line, string? prescriptionState)
    {
        request.Extension.RemoveAll(e => e.Url == DispensingExtension);
        if (line is null)
        {
            return request;
        }

        var ext = new Extension { Url = DispensingExtension };
        ext.Extension.Add(new Extension("state", new Code(line.State)));
        if (prescriptionState is not null)
        {
            ext.Extension.Add(new Extension("prescriptionState", new Code(prescriptionState)));
        }

        ext.Extension.Add(new Extension("dispensedQuantity", new Quantity { Value = (decimal)line.Dispensed, Unit = request.DispenseRequest?.Quantity?.Unit }));
        ext.Extension.Add(new Extension("renewalsRemaining", new UnsignedInt(line.RenewalsRemaining)));
        if (line.LastDispensed is { } last)
        {
            ext.Extension.Add(new Extension("lastDispensed", new FhirDateTime(last)));
        }

        request.Extension.Add(ext);
        if (line.Complete)
        {
            request.Status = MedicationRequest.MedicationrequestStatus.Completed;
        }

        return request;
    }

    private static string Format(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>How far a prescription line was dispensed.</summary>
/// <param name="State">not-executed, partially-executed or executed (the current dispensing is complete).</param>
/// <param name="Dispensed">The quantity dispensed so far, renewals included.</param>
/// <param name="RenewalsRemaining">How many renewals may still be dispensed.</param>
/// <param name="Complete">Every allowed dispensing, renewals included, has been made.</param>
/// <param name="LastDispensed">When the last dispensing seen was handed over.</param>
public sealed record Execution(string State, double Dispensed, int RenewalsRemaining, bool Complete, DateTimeOffset? LastDispensed);
