using System.Collections.Immutable;
using System.Text.Json;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// Reads a <see cref="DerivationSpec"/> from JSON. Every error names the file and the field (e.g.
/// <c>spec.json: inputDrvs.dep.outputs[1]: expected a string</c>); unknown fields are errors, to catch typos.
/// Nested <c>specFile</c> references are resolved relative to the referring file.
/// </summary>
public static class DerivationSpecReader
{
    private const int MaxDepth = 64;
    private static readonly string[] InputKinds = ["drv", "spec", "specFile"];

    public static async Task<DerivationSpec> LoadAsync(string file, CancellationToken cancellationToken) =>
        await LoadAsync(Path.GetFullPath(file), 0, cancellationToken);

    /// <summary>Parses spec JSON; <paramref name="source"/> names it in errors and anchors relative <c>specFile</c>s.</summary>
    public static Task<DerivationSpec> ParseAsync(string json, string source, CancellationToken cancellationToken) =>
        ParseAsync(json, Path.GetFullPath(source), 0, cancellationToken);

    private static async Task<DerivationSpec> LoadAsync(string file, int depth, CancellationToken cancellationToken)
    {
        if (depth > MaxDepth)
            throw new DerivationFormatException($"{file}: specs nest deeper than {MaxDepth} levels (a specFile cycle?)");
        var json = await File.ReadAllTextAsync(file, cancellationToken);
        return await ParseAsync(json, file, depth, cancellationToken);
    }

    private static async Task<DerivationSpec> ParseAsync(string json, string source, int depth, CancellationToken cancellationToken)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DerivationFormatException($"{source}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}");
        }

        using (doc)
            return await ReadSpecAsync(doc.RootElement, "", source, depth, cancellationToken);
    }

    private static async Task<DerivationSpec> ReadSpecAsync(JsonElement e, string field, string source, int depth, CancellationToken cancellationToken)
    {
        var at = new FieldContext(source, field);
        at.RequireObject(e, "a derivation spec object");
        at.RejectUnknown(e, "name", "system", "builder", "args", "env", "inputSrcs", "inputDrvs", "outputs", "fixedOutput", "requiredSystemFeatures");
        var inputs = ImmutableSortedDictionary.CreateBuilder<string, DerivationSpecInput>(StringComparer.Ordinal);
        if (e.TryGetProperty("inputDrvs", out var inputDrvs))
        {
            var inputsAt = at.Child("inputDrvs");
            inputsAt.RequireObject(inputDrvs, "an object of input derivations by key");
            foreach (var p in inputDrvs.EnumerateObject())
                inputs[p.Name] = await ReadInputAsync(p.Value, inputsAt.Child(p.Name), source, depth, cancellationToken);
        }

        FixedOutputSpec? fixedOutput = null;
        if (e.TryGetProperty("fixedOutput", out var fo))
        {
            var foAt = at.Child("fixedOutput");
            foAt.RequireObject(fo, "an object {\"hash\", \"algo\", \"recursive\"}");
            foAt.RejectUnknown(fo, "hash", "algo", "recursive");
            fixedOutput = new FixedOutputSpec(
                foAt.RequiredString(fo, "hash"),
                foAt.OptionalString(fo, "algo"),
                fo.TryGetProperty("recursive", out var r) && foAt.Child("recursive").Bool(r));
        }

        return new DerivationSpec
        {
            Name = at.RequiredString(e, "name"),
            System = at.RequiredString(e, "system"),
            Builder = at.RequiredString(e, "builder"),
            Args = at.OptionalStrings(e, "args") ?? [],
            Env = e.TryGetProperty("env", out var env) ? at.Child("env").StringMap(env) : Derivation.EmptyEnv,
            InputSrcs = at.OptionalStrings(e, "inputSrcs") ?? [],
            InputDrvs = inputs.ToImmutable(),
            Outputs = at.OptionalStrings(e, "outputs"),
            FixedOutput = fixedOutput,
            RequiredSystemFeatures = at.OptionalStrings(e, "requiredSystemFeatures"),
        };
    }

    private static async Task<DerivationSpecInput> ReadInputAsync(JsonElement e, FieldContext at, string source, int depth, CancellationToken cancellationToken)
    {
        at.RequireObject(e, "an object with one of \"drv\", \"spec\" or \"specFile\", and optional \"outputs\"");
        at.RejectUnknown(e, "drv", "spec", "specFile", "outputs");
        var given = InputKinds.Where(k => e.TryGetProperty(k, out _)).ToList();
        if (given.Count != 1)
            throw at.Error($"give exactly one of \"drv\", \"spec\" or \"specFile\" (found {(given.Count == 0 ? "none" : string.Join(", ", given))})");
        var outputs = at.OptionalStrings(e, "outputs") ?? [];
        if (given[0] == "drv")
            return new DerivationSpecInput(at.RequiredString(e, "drv"), null, outputs);
        if (given[0] == "spec")
            return new DerivationSpecInput(null, await ReadSpecAsync(e.GetProperty("spec"), at.Child("spec").Field, source, depth + 1, cancellationToken), outputs);
        var relative = at.RequiredString(e, "specFile");
        var file = Path.GetFullPath(relative, Path.GetDirectoryName(source) ?? "/");
        if (!File.Exists(file))
            throw at.Child("specFile").Error($"spec file '{file}' does not exist");
        return new DerivationSpecInput(null, await LoadAsync(file, depth + 1, cancellationToken), outputs);
    }
}
