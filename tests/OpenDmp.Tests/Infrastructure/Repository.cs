namespace OpenDmp.Tests.Infrastructure;

/// <summary>The repository the tests run from (the folder holding OpenDmp.slnx).</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "OpenDmp.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found (no OpenDmp.slnx above the test binaries)");
    }
}
