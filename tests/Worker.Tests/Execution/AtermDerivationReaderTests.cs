using BuildFarm.Store.Derivations;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Tests.Execution;

public sealed class AtermDerivationReaderTests
{
    [Fact]
    public void Read_DrvTextOverTheLimit_RefusedWithTheLimitNotAnException()
    {
        var text = "Derive([(\"out\",\"/nix/store/" + new string('0', 32) + "-big\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"big\",\""
            + new string('x', DerivationAterm.MaxBytes) + "\")])";

        var recipe = new AtermDerivationReader().Read("/nix/store", "/nix/store/" + new string('1', 32) + "-big.drv", text, out var error);

        Assert.Null(recipe);
        Assert.Equal($"malformed derivation: the derivation is {text.Length} bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads", error);
    }
}
