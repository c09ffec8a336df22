using System.Text;
using System.Text.Json.Nodes;
using BuildFarm.Worker.Derivations;

namespace BuildFarm.Worker.Tests.Derivations;

/// <summary>The nlohmann::json dump and shell declarations Nix 2.8 writes for __structuredAttrs.</summary>
public sealed class StructuredAttrsTests
{
    [Theory]
    [InlineData("[1.5,0.1,1e20,100.0,1e-5,0.0001,1.2345e-7,-2.5,42,-7]", "[1.5,0.1,1e+20,100.0,1e-05,0.0001,1.2345e-07,-2.5,42,-7]")]
    [InlineData("{\"b\":\"x\\b\\f\\u0001\\u007f/\",\"a\":null,\"c\":[true,false]}", "{\"a\":null,\"b\":\"x\\b\\f\\u0001\u007f/\",\"c\":[true,false]}")]
    public void Dump_Values_AsNlohmannDumps(string input, string expected) =>
        Assert.Equal(expected, Encoding.UTF8.GetString(StructuredAttrs.Dump(JsonNode.Parse(input))));

    [Fact]
    public void Shell_MixedAttributes_DeclaresWhatBashCanHold()
    {
        var json = (JsonObject)JsonNode.Parse("""{"s":"it's","i":3,"f":1.5,"g":2.0,"b":false,"n":null,"l":["a",1],"bad-name":1,"o":{"k":"v"},"deep":{"l":[1]}}""")!;
        Assert.Equal(
            "declare b=\ndeclare g=2\ndeclare i=3\ndeclare -a l=('a' 1 )\ndeclare n=''\ndeclare -A o=(['k']='v' )\ndeclare s='it'\\''s'\n",
            Encoding.UTF8.GetString(StructuredAttrs.Shell(json)));
    }
}
