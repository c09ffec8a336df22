namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>The instructions of a Dockerfile that name files: COPY sources, published projects, the entry point.</summary>
internal sealed record Dockerfile(IReadOnlyList<string> Instructions)
{
    public static Dockerfile Load(string path)
    {
        // Join continuation lines, drop comments and blanks.
        var joined = File.ReadAllText(path).Replace("\\\n", " ", StringComparison.Ordinal);
        return new Dockerfile([.. joined.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))]);
    }

    /// <summary>Sources of COPY/ADD from the build context (not from another stage).</summary>
    public IEnumerable<string> ContextSources() =>
        Instructions.Where(i => i.StartsWith("COPY ", StringComparison.Ordinal) || i.StartsWith("ADD ", StringComparison.Ordinal))
            .Select(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray())
            .Where(words => !words.Any(w => w.StartsWith("--from=", StringComparison.Ordinal)))
            .SelectMany(words => words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).SkipLast(1));

    /// <summary>Single-source COPY/ADD from the build context: (source, target).</summary>
    public IEnumerable<(string Source, string Target)> ContextCopies() =>
        Instructions.Where(i => i.StartsWith("COPY ", StringComparison.Ordinal) || i.StartsWith("ADD ", StringComparison.Ordinal))
            .Select(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray())
            .Where(words => !words.Any(w => w.StartsWith("--from=", StringComparison.Ordinal)))
            .Select(words => words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray())
            .Where(words => words.Length == 2)
            .Select(words => (words[0], words[1]));

    public IEnumerable<string> PublishedProjects() =>
        Instructions.Where(i => i.StartsWith("RUN ", StringComparison.Ordinal))
            .SelectMany(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w.EndsWith(".csproj", StringComparison.Ordinal));

    public IEnumerable<string> BaseImages() =>
        Instructions.Where(i => i.StartsWith("FROM ", StringComparison.Ordinal)).Select(i => i.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

    /// <summary>The exec-form JSON array of the last instruction of that kind (ENTRYPOINT, CMD).</summary>
    public IReadOnlyList<string> ExecForm(string instruction)
    {
        var line = Instructions.Last(i => i.StartsWith(instruction + " ", StringComparison.Ordinal));
        return System.Text.Json.JsonSerializer.Deserialize<string[]>(line[(instruction.Length + 1)..]) ?? [];
    }
}
