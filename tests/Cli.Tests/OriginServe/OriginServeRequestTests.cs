using BuildFarm.Cli.OriginServe;
using BuildFarm.Store.Paths;
using BuildFarm.Transfer.Exec;

namespace BuildFarm.Cli.Tests.OriginServe;

public sealed class OriginServeRequestTests
{
    private const string Path1 = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12";
    private const string Path2 = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-x-1.0";
    private static readonly OriginServeStore Store = new(StoreLayout.Create("/nix/store", "/srv/origin"), false, "/etc/buildfarm/signing.key");
    private static readonly string Program = ShellCommand.Join("'/usr/lib/buildfarm/buildfarm'", ["--store-dir", "/nix/store", "--root", "/srv/origin", "--signing-key-file", "/d/key"]);

    [Fact]
    public void TryParse_WorkerExportQuotedByShellCommand_RunsExportOnConfiguredStore()
    {
        var line = ShellCommand.Join(Program, ["store", "export", "--signed", Path1, Path2]);

        Assert.True(OriginServeRequest.TryParse(line, Store, out var request, out var error), error);

        Assert.Equal(
            ["--store-dir", "/nix/store", "--root", "/srv/origin", "--signing-key-file", "/etc/buildfarm/signing.key", "store", "export", "--signed", Path1, Path2],
            request!.Arguments);
        Assert.False(request.GzipStdout);
    }

    [Fact]
    public void TryParse_GzipWrapperAroundExport_RunsExportWithGzip()
    {
        var line = ShellCommand.GzipStdout(ShellCommand.Join(Program, ["store", "export", "--signed", Path1]));

        Assert.True(OriginServeRequest.TryParse(line, Store, out var request, out var error), error);

        Assert.True(request!.GzipStdout);
        Assert.Equal(["store", "export", "--signed", Path1], request.Arguments.Skip(6));
    }

    [Fact]
    public void TryParse_DotnetProgramAndUploadVerbs_Allowed()
    {
        var dotnet = "'/usr/bin/dotnet' '/opt/bf/buildfarm.dll' --store-dir /nix/store --root /srv/origin";
        var build = Guid.NewGuid().ToString();

        Assert.True(OriginServeRequest.TryParse(dotnet + " store quarantine-serve", Store, out var serve, out _));
        Assert.True(OriginServeRequest.TryParse(dotnet + " store quarantine-serve --max-bytes 1000", Store, out _, out _));
        Assert.True(OriginServeRequest.TryParse(dotnet + $" store quarantine-put --build {build} --attempt 2", Store, out var put, out _));
        Assert.True(OriginServeRequest.TryParse("buildfarm --version", Store, out var version, out _));

        Assert.Equal(["store", "quarantine-serve"], serve!.Arguments.Skip(6));
        Assert.Equal(["store", "quarantine-put", "--build", build, "--attempt", "2"], put!.Arguments.Skip(6));
        Assert.Equal(["--version"], version!.Arguments.Skip(6));
    }

    [Fact]
    public void TryParse_ManagedCliBehindTheNativeFront_Allowed()
    {
        var line = "/opt/buildfarm/bin/buildfarm-cli --store-dir /nix/store --root /srv/origin store export --signed " + Path1;

        Assert.True(OriginServeRequest.TryParse(line, Store, out var request, out var error), error);

        Assert.Equal(["store", "export", "--signed", Path1], request!.Arguments.Skip(6));
    }

    [Theory]
    [InlineData("")]
    [InlineData("id")]
    [InlineData("cat /etc/passwd")]
    [InlineData("sh -c id")]
    [InlineData("true")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12; id")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12 && id")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-$(id)")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-`id`")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-x\nid")]
    [InlineData("buildfarm store export --signed \"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x\"")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-x > /tmp/x")]
    [InlineData("buildfarm store export --signed /etc/passwd")]
    [InlineData("buildfarm store export --signed /nix/store/../../etc/passwd")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-x/../../../etc/shadow")]
    [InlineData("buildfarm store export /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm store export --signed --closure /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm --root / store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm --store-dir /tmp store export --signed /tmp/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm --nix store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm store import")]
    [InlineData("buildfarm store add /etc/passwd")]
    [InlineData("buildfarm keys generate x")]
    [InlineData("buildfarm store quarantine-put --build not-a-guid --attempt 1")]
    [InlineData("buildfarm store quarantine-put --attempt 1")]
    [InlineData("buildfarm store quarantine-serve --max-bytes -1")]
    [InlineData("buildfarm store quarantine-serve --output /etc/passwd")]
    [InlineData("'/bin/sh' -c id")]
    [InlineData("/usr/bin/buildfarm.sh store quarantine-serve")]
    [InlineData("buildfarm 'store export' --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12")]
    [InlineData("buildfarm store export --signed '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello")]
    [InlineData("buildfarm\tstore quarantine-serve")]
    public void TryParse_AnythingElse_Refused(string line)
    {
        Assert.False(OriginServeRequest.TryParse(line, Store, out var request, out var error));

        Assert.Null(request);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void TryParse_GzipWrapperAroundShellCommand_Refused()
    {
        var line = ShellCommand.GzipStdout("cat /etc/passwd");

        Assert.False(OriginServeRequest.TryParse(line, Store, out _, out var error));
        Assert.Contains("not", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a 'b c' d", new[] { "a", "b c", "d" })]
    [InlineData("'it'\\''s'", new[] { "it's" })]
    [InlineData("x '' y", new[] { "x", "", "y" })]
    [InlineData("  a   b ", new[] { "a", "b" })]
    [InlineData("'$(id); `id`'", new[] { "$(id); `id`" })]
    [InlineData("'a\nb'", new[] { "a\nb" })]
    public void TrySplit_ShellCommandQuoting_Words(string line, string[] expected)
    {
        Assert.True(ShellWords.TrySplit(line, out var words, out var error), error);

        Assert.Equal(expected, words);
    }

    [Theory]
    [InlineData("a;b")]
    [InlineData("a $(b)")]
    [InlineData("a `b`")]
    [InlineData("a\nb")]
    [InlineData("a \"b\"")]
    [InlineData("a | b")]
    [InlineData("a & b")]
    [InlineData("a *")]
    [InlineData("a \\b")]
    [InlineData("a 'b")]
    public void TrySplit_ShellSyntax_Rejected(string line)
    {
        Assert.False(ShellWords.TrySplit(line, out _, out var error));

        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("it's")]
    [InlineData("$(id); `x` \n \"q\" \\")]
    [InlineData("")]
    public void TrySplit_RoundTripsShellCommandQuote(string argument)
    {
        Assert.True(ShellWords.TrySplit("p " + ShellCommand.Quote(argument), out var words, out var error), error);

        Assert.Equal(["p", argument], words);
    }
}
