using System.Globalization;
using BuildFarm.Store.Paths;

namespace BuildFarm.Cli.OriginServe;

/// <summary>The store an origin serves, fixed by the forced command in <c>authorized_keys</c> (never by the worker).</summary>
internal sealed record OriginServeStore(StoreLayout Layout, bool IsNix, string? SigningKeyFile)
{
    /// <summary>The global flags that select this store, first in every command run for a worker.</summary>
    public IReadOnlyList<string> Flags()
    {
        List<string> flags = ["--store-dir", Layout.StoreDir.Path];
        flags.AddRange(IsNix ? ["--nix"] : ["--root", Layout.Root.Length == 0 ? "/" : Layout.Root]);
        if (SigningKeyFile is not null)
            flags.AddRange(["--signing-key-file", SigningKeyFile]);
        return flags;
    }
}

/// <summary>
/// What a worker asked for in <c>SSH_ORIGINAL_COMMAND</c>, checked against the few commands workers run on an origin
/// (src/Transfer, src/Worker/Origins): <c>store export --signed PATH…</c> (input pull, optionally inside the
/// <c>RemoteGzip</c> wrapper), <c>store quarantine-serve</c> and <c>store quarantine-put</c> (output upload) and
/// <c>--version</c> (the probe). The result is the argv to run in-process; anything else is refused.
/// </summary>
internal sealed record OriginServeRequest(IReadOnlyList<string> Arguments, bool GzipStdout)
{
    /// <summary>An input pull's <c>store export --signed PATH…</c> (the one request the NativeAOT front serves itself).</summary>
    public bool IsExport { get; private init; }

    // ShellCommand.GzipStdout's wrapper around the real command, matched literally.
    private const string GzipPrefix = "exec 3>&1; status=$( { { ( ";
    private const string GzipSuffix = " ); echo $? >&4; } | gzip -1 -c >&3; } 4>&1 ); exit \"$status\"";

    public static bool TryParse(string? original, OriginServeStore store, out OriginServeRequest? request, out string? error)
    {
        request = null;
        if (string.IsNullOrEmpty(original))
        {
            error = "no command given (SSH_ORIGINAL_COMMAND is empty): this key may only run buildfarm's store commands, not a login shell";
            return false;
        }

        var gzip = original.StartsWith(GzipPrefix, StringComparison.Ordinal) && original.EndsWith(GzipSuffix, StringComparison.Ordinal)
            && original.Length > GzipPrefix.Length + GzipSuffix.Length;
        var line = gzip ? original[GzipPrefix.Length..^GzipSuffix.Length] : original;
        if (!ShellWords.TrySplit(line, out var words, out error))
            return false;
        error = Check(words, store, out var arguments);
        if (error is not null)
            return false;
        request = new OriginServeRequest([.. store.Flags(), .. arguments!], gzip) { IsExport = arguments is ["store", "export", ..] };
        return true;
    }

    private static string? Check(List<string> words, OriginServeStore store, out List<string>? arguments)
    {
        arguments = null;
        var i = 0;

        // The worker's RemoteCommand starts with the program ('buildfarm', the managed 'buildfarm-cli' behind it, or
        // 'dotnet' 'buildfarm.dll'): ignored, as the forced command decides what runs.
        var program = 0;
        while (i < words.Count && !words[i].StartsWith('-') && words[i] != "store" && program < 2)
        {
            if (!IsProgram(words[i]))
                return $"'{words[i]}' is not a command this key may run (only buildfarm's store export, quarantine-serve, quarantine-put and --version)";
            i++;
            program++;
        }

        if (program == 0)
            return "the command does not start with buildfarm";
        if (i < words.Count && !words[i].StartsWith('-') && words[i] != "store")
            return $"'{words[i]}' is not a command this key may run";

        // Store flags the worker's RemoteCommand carries must name the store this key serves.
        while (i < words.Count && words[i].StartsWith("--", StringComparison.Ordinal) && words[i] != "--version")
        {
            var flag = words[i];
            if (flag == "--nix")
            {
                if (!store.IsNix)
                    return "--nix: this origin serves BuildFarm's own store, not the Nix store";
                i++;
                continue;
            }

            if (flag is not ("--store-dir" or "--root" or "--signing-key-file"))
                return $"option '{flag}' is not allowed";
            if (i + 1 >= words.Count)
                return $"option '{flag}' needs a value";
            var value = words[i + 1];
            switch (flag)
            {
                case "--store-dir" when value != store.Layout.StoreDir.Path:
                    return $"--store-dir {value}: this origin serves {store.Layout.StoreDir.Path}";
                case "--root" when store.IsNix:
                    return "--root: this origin serves the Nix store (--nix)";
                case "--root" when StoreLayout.Create(store.Layout.StoreDir.Path, value).Root != store.Layout.Root:
                    return $"--root {value}: this origin's store is rooted elsewhere";
                default:
                    break; // --signing-key-file: the origin's own key (from the forced command) signs.
            }

            i += 2;
        }

        var rest = words.Skip(i).ToList();
        if (rest is ["--version"])
        {
            arguments = ["--version"];
            return null;
        }

        return rest switch
        {
            ["store", "export", .. var export] => CheckExport(export, store, out arguments),
            ["store", "quarantine-serve", .. var serve] => CheckOptions("store quarantine-serve", serve, ["--max-bytes"], [], out arguments),
            ["store", "quarantine-put", .. var put] => CheckOptions("store quarantine-put", put, ["--build", "--attempt", "--max-bytes"], ["--build", "--attempt"], out arguments),
            [] => "no buildfarm command given",
            _ => $"'{string.Join(' ', rest.Take(2))}' is not a command this key may run (only store export, store quarantine-serve, store quarantine-put and --version)",
        };
    }

    private static bool IsProgram(string word)
    {
        var name = Path.GetFileName(word);
        return name is "buildfarm" or "buildfarm-cli" or "buildfarm.dll" or "dotnet" or "BuildFarm.Cli" or "BuildFarm.Cli.dll";
    }

    private static string? CheckExport(List<string> words, OriginServeStore store, out List<string>? arguments)
    {
        arguments = null;
        if (words is not ["--signed", _, ..])
            return "store export: only 'store export --signed PATH…' is allowed";
        foreach (var text in words.Skip(1))
        {
            if (!StorePath.TryParse(store.Layout.StoreDir, text, out _, out var error))
                return $"store export: {error}";
        }

        arguments = ["store", "export", .. words];
        return null;
    }

    private static string? CheckOptions(string verb, List<string> words, string[] allowed, string[] required, out List<string>? arguments)
    {
        arguments = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < words.Count; i += 2)
        {
            var flag = words[i];
            if (!allowed.Contains(flag))
                return $"{verb}: argument '{flag}' is not allowed";
            if (!seen.Add(flag))
                return $"{verb}: {flag} is given twice";
            if (i + 1 >= words.Count)
                return $"{verb}: {flag} needs a value";
            var value = words[i + 1];
            var valid = flag switch
            {
                "--build" => Guid.TryParse(value, out _),
                _ => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0,
            };
            if (!valid)
                return $"{verb}: {flag} '{value}' is not {(flag == "--build" ? "a GUID" : "a positive number")}";
        }

        var missing = required.FirstOrDefault(r => !seen.Contains(r));
        if (missing is not null)
            return $"{verb}: {missing} is required";
        arguments = ["store", .. verb.Split(' ').Skip(1), .. words];
        return null;
    }
}
