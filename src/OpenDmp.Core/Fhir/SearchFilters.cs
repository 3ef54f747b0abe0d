using System.Linq.Expressions;

namespace OpenDmp.Core.Fhir;

/// <summary>Translation of FHIR search prefixes into SQL-translatable predicates.</summary>
public static class SearchFilters
{
    /// <summary>Applies a FHIR date parameter (eq, gt, ge, lt, le, sa, eb at the precision given) to a date column.</summary>
    public static IQueryable<T> Date<T>(IQueryable<T> query, string name, string value, Expression<Func<T, DateTimeOffset?>> field)
    {
        var (prefix, low, high) = SearchParams.Date(name, value);
        var body = field.Body;
        Expression Cmp(ExpressionType t, DateTimeOffset v) => Expression.MakeBinary(t, body, Expression.Constant((DateTimeOffset?)v, typeof(DateTimeOffset?)));
        var predicate = prefix switch
        {
            "gt" or "sa" => Cmp(ExpressionType.GreaterThan, high),
            "ge" => Cmp(ExpressionType.GreaterThanOrEqual, low),
            "lt" or "eb" => Cmp(ExpressionType.LessThan, low),
            "le" => Cmp(ExpressionType.LessThanOrEqual, high),
            _ => Expression.AndAlso(Cmp(ExpressionType.GreaterThanOrEqual, low), Cmp(ExpressionType.LessThanOrEqual, high)),
        };
        return query.Where(Expression.Lambda<Func<T, bool>>(predicate, field.Parameters[0]));
    }
}
