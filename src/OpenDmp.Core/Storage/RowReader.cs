using System.Data.Common;
using System.Linq.Expressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace OpenDmp.Core.Storage;

/// <summary>
/// Reads an entity from a row of a hand-written query, the way EF would: its columns, their order
/// and each value's conversion (UTC ticks, enums as text) come from the EF model, so the query and
/// the reader follow the model when a column is added. Used where EF's own pipeline costs more than
/// the query (<see cref="SqliteStatements"/>).
/// </summary>
public sealed class RowReader<T>
    where T : class
{
    private readonly Func<T> _create;
    private readonly Action<DbDataReader, int, T>[] _setters;
    private readonly Dictionary<string, int> _ordinals;

    public RowReader(IModel model)
    {
        var entity = model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model");
        Table = entity.GetTableName()!;
        var table = StoreObjectIdentifier.Table(Table, entity.GetSchema());
        var properties = entity.GetProperties().Where(p => p.PropertyInfo is not null).ToList();
        Columns = properties.Select(p => p.GetColumnName(table)!).ToList();
        _ordinals = properties.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        _create = Expression.Lambda<Func<T>>(Expression.New(typeof(T))).Compile();
        _setters = properties.Select(Setter).ToArray();
    }

    public string Table { get; }

    /// <summary>The entity's columns, in the order <see cref="Read"/> expects them.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The position of a property's column among <see cref="Columns"/>.</summary>
    public int Ordinal(string property) => _ordinals[property];

    /// <summary>The column of a property.</summary>
    public string Column(string property) => Columns[Ordinal(property)];

    /// <summary>The columns prefixed by a table alias and quoted, for a SELECT list.</summary>
    public string SelectList(string alias) => string.Join(", ", Columns.Select(c => $"{alias}.\"{c}\""));

    /// <summary>The entity whose columns start at <paramref name="first"/>.</summary>
    public T Read(DbDataReader reader, int first)
    {
        var entity = _create();
        for (var i = 0; i < _setters.Length; i++)
        {
            _setters[i](reader, first + i, entity);
        }

        return entity;
    }

    /// <summary>(reader, ordinal, entity) => entity.P = reader.IsDBNull(ordinal) ? default : fromProvider(reader.GetFieldValue&lt;TProvider&gt;(ordinal)).</summary>
    private static Action<DbDataReader, int, T> Setter(IProperty property)
    {
        var reader = Expression.Parameter(typeof(DbDataReader), "reader");
        var ordinal = Expression.Parameter(typeof(int), "ordinal");
        var entity = Expression.Parameter(typeof(T), "entity");
        var modelType = property.ClrType;
        var converter = property.GetTypeMapping().Converter;
        var providerType = converter?.ProviderClrType ?? Nullable.GetUnderlyingType(modelType) ?? modelType;
        providerType = Nullable.GetUnderlyingType(providerType) ?? providerType;
        Expression value = Expression.Call(reader, nameof(DbDataReader.GetFieldValue), [providerType], ordinal);
        if (converter is not null)
        {
            var fromProvider = converter.ConvertFromProviderExpression;
            value = Expression.Invoke(fromProvider, Expression.Convert(value, fromProvider.Parameters[0].Type));
        }

        value = Expression.Condition(
            Expression.Call(reader, nameof(DbDataReader.IsDBNull), null, ordinal),
            Expression.Default(modelType),
            Expression.Convert(value, modelType));
        var assign = Expression.Assign(Expression.Property(entity, property.PropertyInfo!), value);
        return Expression.Lambda<Action<DbDataReader, int, T>>(assign, reader, ordinal, entity).Compile();
    }
}
