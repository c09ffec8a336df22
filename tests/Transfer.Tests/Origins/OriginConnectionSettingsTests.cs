using BuildFarm.Transfer.Origins;

namespace BuildFarm.Transfer.Tests.Origins;

public sealed class OriginConnectionSettingsTests
{
    [Fact]
    public void Validate_EverythingWrong_NamesEachSettingAndValue()
    {
        var settings = new OriginConnectionSettings("", 70000, "", "/nonexistent/key", ["MD5:ab:cd", "SHA256:tooshort"], "")
        {
            MaxConnections = 0,
            Transport = (OriginTransport)7,
        };

        var errors = settings.Validate();

        Assert.Contains(errors, e => e.StartsWith("Host is empty", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Port 70000 is out of range", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("User is empty", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'/nonexistent/key' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'MD5:ab:cd' is invalid: it does not start with 'SHA256:'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'SHA256:tooshort' is invalid", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("RemoteCommand is empty", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("MaxConnections 0", StringComparison.Ordinal));
        Assert.Contains(errors, e => e == "Transport 7 is not one of OpenSsh, SshNet.");
        var thrown = Assert.Throws<InvalidOriginConnectionSettingsException>(() => settings.EnsureValid());
        Assert.Equal(errors, thrown.Errors);
    }

    [Fact]
    public void Validate_NoFingerprint_ExplainsHowToGetOne()
    {
        using var key = new Testing.TempDirectory();
        File.WriteAllText(key.Combine("id"), "x");
        File.SetUnixFileMode(key.Combine("id"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var settings = new OriginConnectionSettings("origin", 22, "bf", key.Combine("id"), []);

        var error = Assert.Single(settings.Validate());

        Assert.Contains("ssh-keygen -lf", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(OriginTransport.OpenSsh, true)]
    [InlineData(OriginTransport.SshNet, false)]
    public void Validate_KeyReadableByOthers_RefusedOnlyForOpenSsh(OriginTransport transport, bool refused)
    {
        using var dir = new Testing.TempDirectory();
        var key = dir.Combine("id");
        File.WriteAllText(key, "x");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var settings = new OriginConnectionSettings("origin", 22, "bf", key, ["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"]) { Transport = transport };

        var errors = settings.Validate();

        Assert.Equal(refused, errors.Any(e => e == $"PrivateKeyFile '{key}' may be accessed by group or others (mode 0644), which OpenSSH's client refuses: chmod 600 it (Transport OpenSsh)."));
        Assert.Equal(refused ? 1 : 0, errors.Count);
    }

    [Theory]
    [InlineData("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")]
    [InlineData(" SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= ", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")]
    public void TryParse_OpenSshForm_Canonicalises(string text, string expected)
    {
        Assert.True(HostKeyFingerprint.TryParse(text, out var canonical, out _));
        Assert.Equal(expected, canonical);
    }

    [Theory]
    [InlineData("")]
    [InlineData("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")]
    [InlineData("SHA256:AAAA")]
    [InlineData("SHA256:not base64 at all!")]
    public void TryParse_Malformed_SaysWhy(string text)
    {
        Assert.False(HostKeyFingerprint.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
