using System.CommandLine;
using System.Globalization;

namespace BuildFarm.Cli.Store;

/// <summary><c>buildfarm store info PATH</c>: what the store recorded about a valid path, in narinfo-like lines.</summary>
internal static class InfoCommand
{
    public static Command Create(CliGlobals globals)
    {
        var path = new Argument<string>("path") { Description = "A valid store path" };
        var command = new Command("info", "Show a valid path's NAR hash and size, references, deriver, signatures") { path };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "store info", async () =>
        {
            var store = await StoreCli.OpenAsync(globals, result, cancellationToken);
            var info = await store.GetPathInfoAsync(StoreCli.ParsePath(store, result.GetRequiredValue(path)), cancellationToken);
            var output = result.InvocationConfiguration.Output;
            await output.WriteLineAsync($"StorePath: {info.Path}");
            await output.WriteLineAsync($"NarHash: {info.NarHash}");
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"NarSize: {info.NarSize}"));
            await output.WriteLineAsync($"References: {string.Join(' ', info.References.Select(r => r.BaseName))}");
            if (info.Deriver is not null)
                await output.WriteLineAsync($"Deriver: {info.Deriver.BaseName}");
            await output.WriteLineAsync($"Sigs: {string.Join(' ', info.Signatures)}");
            await output.WriteLineAsync($"Registered: {info.RegistrationTime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}");
            return 0;
        }));
        return command;
    }
}
