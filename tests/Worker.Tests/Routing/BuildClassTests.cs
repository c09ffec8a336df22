using BuildFarm.Messaging.Routing;

namespace BuildFarm.Worker.Tests.Routing;

public sealed class BuildClassTests
{
    [Theory]
    [InlineData("x86_64-linux")]
    [InlineData("aarch64-darwin")]
    [InlineData("builtin")]
    [InlineData("i686_linux-2")]
    public void Problem_NixSystem_None(string system) => Assert.Null(BuildClass.Problem(system, ["kvm", "big-parallel", "gccarch-x86-64-v3"]));

    [Theory]
    [InlineData("x86_64-linux<script>")]
    [InlineData("<")]
    [InlineData("x86_64.linux")]
    [InlineData("x86 64")]
    [InlineData("")]
    [InlineData("x86_64-linux\n")]
    public void Problem_BadSystem_SaysSystemAndConstructorThrows(string system)
    {
        Assert.Contains("system", BuildClass.Problem(system, []), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new BuildClass(system, []));
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("kvm+x")]
    [InlineData("<b>")]
    [InlineData("")]
    public void Problem_BadFeature_SaysFeature(string feature) =>
        Assert.Contains("feature", BuildClass.Problem("x86_64-linux", ["kvm", feature]), StringComparison.Ordinal);
}
