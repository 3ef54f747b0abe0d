using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace OpenDmp.Core.Storage;

/// <summary>
/// A compiled query (<c>EF.CompileAsyncQuery</c>) for each model. A compiled query skips building and
/// matching the LINQ expression tree on every call — measured on the hot paths (every request reads
/// its record's facts) — but is bound to the model it first ran with, and one process may hold
/// several (SQLite and PostgreSQL side by side in the tests, the tools): one compilation per model.
/// </summary>
public sealed class PerModel<TQuery>(Func<IModel, TQuery> compile)
    where TQuery : class
{
    private readonly ConditionalWeakTable<IModel, TQuery> _byModel = [];

    public PerModel(Func<TQuery> compile)
        : this(_ => compile())
    {
    }

    public TQuery For(DbContext db) => _byModel.GetValue(db.Model, compile.Invoke);
}
