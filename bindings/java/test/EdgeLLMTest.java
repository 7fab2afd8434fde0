import dev.edgellm.EdgeLLM;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/** The Java binding on the tiny qwen2 model: path and bytes loads agree, the callback sees every
 *  token, a restored state continues exactly as the original, threads change, errors throw. */
public class EdgeLLMTest {
    static int pass = 0, fail = 0;
    static void check(boolean ok, String what) {
        if (ok) pass++; else { fail++; System.err.println("FAIL: " + what); }
    }

    public static void main(String[] args) throws Exception {
        String model = args[0] + "/models/qwen2-mini-q8_0.gguf";
        String expect = args.length > 1 ? args[1] : null; /* `edgellm run --temp 0` on the same prompt */
        String prompt = "Once upon a time";
        try (EdgeLLM.Model m = EdgeLLM.Model.load(model);
             EdgeLLM.Model mb = EdgeLLM.Model.loadBytes(Files.readAllBytes(Paths.get(model)));
             EdgeLLM.Context c = new EdgeLLM.Context(m, 256, 2);
             EdgeLLM.Context cb = new EdgeLLM.Context(mb, 256, 1)) {
            List<String> pieces = new ArrayList<>();
            String a = c.generate(prompt, 12, 0f, 1, p -> { pieces.add(p); return true; });
            String b = cb.generate(prompt, 12, 0f, 1, null);
            check(!a.isEmpty() && a.equals(b), "path and bytes loads generate the same text: '" + a + "' vs '" + b + "'");
            check(pieces.size() == 12 && String.join("", pieces).equals(a), "callback saw 12 pieces making the text: " + pieces);
            if (expect != null) check(expect.equals(a) || expect.equals(a + "\n"), "equals `edgellm run`: '" + a + "' vs '" + expect + "'");
            check(m.tokenize(prompt, true).length > 1, "tokenize");

            /* save after the first part, continue; restore in another context, continue the same */
            int len = c.seqLen();
            byte[] st = c.saveState();
            String more = c.generate(" and then", 8, 0f, 1, null);
            try (EdgeLLM.Context c2 = new EdgeLLM.Context(m, 256, 2)) {
                c2.restoreState(st);
                check(c2.seqLen() == len, "restored length " + c2.seqLen() + " == " + len);
                String more2 = c2.generate(" and then", 8, 0f, 1, null);
                check(more.equals(more2), "restored state continues the same: '" + more + "' vs '" + more2 + "'");
                c2.setThreads(1);
                c2.restoreState(st);
                check(c2.generate(" and then", 8, 0f, 1, null).equals(more), "one thread continues the same");
                boolean threw = false;
                try { c2.setThreads(3); } catch (EdgeLLM.EdgeLLMException e) { threw = e.getMessage().startsWith("invalid argument"); }
                check(threw, "setThreads beyond the created count throws invalid argument");
                st[st.length / 2] ^= 1;
                threw = false;
                try { c2.restoreState(st); } catch (EdgeLLM.EdgeLLMException e) { threw = e.getMessage().startsWith("format error"); }
                check(threw && c2.seqLen() == 0, "a damaged state throws a format error and leaves the context empty");
            }
            /* stop from the callback */
            int[] n = {0};
            c.generate(" again", 10, 0f, 1, p -> ++n[0] < 3);
            check(n[0] == 3, "callback returning false stops: " + n[0]);
        }
        boolean threw = false;
        try { EdgeLLM.Model.load("/nonexistent.gguf"); } catch (EdgeLLM.EdgeLLMException e) { threw = e.getMessage().startsWith("I/O error"); }
        check(threw, "a missing file throws an I/O error");
        threw = false;
        try { EdgeLLM.Model.loadBytes(new byte[100]); } catch (EdgeLLM.EdgeLLMException e) { threw = e.getMessage().startsWith("format error"); }
        check(threw, "garbage bytes throw a format error");
        System.out.println("java binding: " + pass + " passed, " + fail + " failed");
        System.exit(fail == 0 ? 0 : 1);
    }
}
