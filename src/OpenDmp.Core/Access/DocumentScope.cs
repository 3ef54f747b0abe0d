using System.Linq.Expressions;
using OpenDmp.Core.Documents;

namespace OpenDmp.Core.Access;

/// <summary>How masked documents enter a professional's view.</summary>
public enum MaskedRule
{
    /// <summary>Masked documents are shown (treating physician, emergency unmasking).</summary>
    Include,
    /// <summary>Masked documents are shown only to their author or submitter.</summary>
    IncludeOwn,
    /// <summary>Masked documents are not shown.</summary>
    Exclude,
}

/// <summary>
/// Which documents of a record a permitted actor may see, expressed both as a predicate on the
/// policy's <see cref="DocumentFacts"/> and as an expression that searches apply in SQL, so that
/// counts, totals and pages only ever contain admissible documents. A property test checks that the
/// two agree with <see cref="AccessPolicy.Decide"/> on every document.
/// </summary>
public sealed record DocumentScope(bool Any, IReadOnlyList<string>? Classes, IReadOnlyList<string>? Types, MaskedRule Masked, bool PatientView, string? ActorId, bool RepresentativeView = false)
{
    public static DocumentScope None { get; } = new(false, [], [], MaskedRule.Exclude, false, null);
    public static DocumentScope All { get; } = new(true, null, null, MaskedRule.Include, false, null);
    public static DocumentScope ForPatient { get; } = new(true, null, null, MaskedRule.Include, true, null);

    /// <summary>A legal representative: the patient's view without the documents invisible to representatives.</summary>
    public static DocumentScope ForRepresentative { get; } = new(true, null, null, MaskedRule.Include, true, null, RepresentativeView: true);

    /// <summary>When the patient opposes it: the prescriber whose prescriptions' dispensing documents are not shown to them.</summary>
    public string? HideDispensingPrescribedBy { get; init; }

    private bool MatrixAdmits(string? classCode, string? typeCode) =>
        (Classes is null && Types is null)
        || (Classes is not null && classCode is not null && Classes.Contains(classCode))
        || (Types is not null && typeCode is not null && Types.Contains(typeCode));

    /// <summary>The predicate on one document.</summary>
    public bool Admits(DocumentFacts d)
    {
        if (!Any || !MatrixAdmits(d.ClassCode, d.TypeCode))
        {
            return false;
        }

        if (PatientView && (d.HiddenFromPatient || d.Draft))
        {
            return false;
        }

        if (RepresentativeView && d.HiddenFromRepresentatives)
        {
            return false;
        }

        if (HideDispensingPrescribedBy is not null && d.PrescriberId == HideDispensingPrescribedBy)
        {
            return false;
        }

        return Masked switch
        {
            MaskedRule.Include => true,
            MaskedRule.IncludeOwn => !d.Masked || (ActorId is not null && d.IsOwnedBy(ActorId)),
            _ => !d.Masked,
        };
    }

    /// <summary>The same predicate as a LINQ expression on stored documents (translated to SQL).</summary>
    public Expression<Func<DocumentEntry, bool>> ToExpression()
    {
        if (!Any)
        {
            return x => false;
        }

        Expression<Func<DocumentEntry, bool>> e = x => true;
        if (Classes is not null || Types is not null)
        {
            var classes = (Classes ?? []).ToList();
            var types = (Types ?? []).ToList();
            e = And(e, x => (x.ClassCode != null && classes.Contains(x.ClassCode)) || types.Contains(x.TypeCode));
        }

        if (PatientView)
        {
            e = And(e, x => !x.HiddenFromPatient && !x.Draft);
        }

        if (RepresentativeView)
        {
            e = And(e, x => !x.HiddenFromRepresentatives);
        }

        if (HideDispensingPrescribedBy is { } prescriber)
        {
            e = And(e, x => x.PrescriberId == null || x.PrescriberId != prescriber);
        }

        var actor = ActorId;
        e = Masked switch
        {
            MaskedRule.Include => e,
            MaskedRule.IncludeOwn => And(e, x => !x.Masked || x.AuthorProfessionalId == actor || x.SubmitterId == actor),
            _ => And(e, x => !x.Masked),
        };
        return e;
    }

    /// <summary>The negation of a predicate (documents outside the scope).</summary>
    public static Expression<Func<DocumentEntry, bool>> Negate(Expression<Func<DocumentEntry, bool>> e) =>
        Expression.Lambda<Func<DocumentEntry, bool>>(Expression.Not(e.Body), e.Parameters[0]);

    private static Expression<Func<DocumentEntry, bool>> And(Expression<Func<DocumentEntry, bool>> a, Expression<Func<DocumentEntry, bool>> b)
    {
        var p = a.Parameters[0];
        var body = new Rebind(b.Parameters[0], p).Visit(b.Body);
        return Expression.Lambda<Func<DocumentEntry, bool>>(Expression.AndAlso(a.Body, body), p);
    }

    private sealed class Rebind(ParameterExpression from, ParameterExpression to) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node) => node == from ? to : node;
    }
}
