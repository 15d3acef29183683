//! MATLAB-style network summary: layer, connection, learnable and state
//! counts, and a per-layer table.
//!
//! The layers are those MATLAB's `resnetNetwork` builds (an image input
//! layer, convolutions, batch norms, ReLUs, the stem pooling, additions,
//! global average pooling, a fully connected layer and softmax; no
//! classification output layer), so the counts can be compared with
//! `analyzeNetwork`. Names follow the plan (torchvision's `conv1`,
//! `layer1.0.bn2`, ...); the layers torchvision has no module for are named
//! `input`, `relu`, `maxpool` / `averagepool` (stem pooling),
//! `layerS.B.relu1`, `layerS.B.relu2`, `layerS.B.add`, `layerS.B.relu`
//! (after the addition), `avgpool` (global) and `softmax`.

use std::collections::HashMap;
use std::fmt;

use serde_json::json;

use crate::{BatchNormPlan, ConvPlan, Plan, Pooling, Spec, SpecError};

/// One layer of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Layer name (see the module documentation).
    pub name: String,
    /// MATLAB's description of the layer type, e.g. "2-D Convolution".
    pub kind: String,
    /// Output activation size, `[height, width, channels]`.
    pub activation: [usize; 3],
    /// Learnable arrays with MATLAB's names and sizes, e.g. `("Weights",
    /// [7, 7, 3, 64])`.
    pub learnables: Vec<(String, Vec<usize>)>,
    /// State arrays (batch norm running statistics) with their sizes.
    pub states: Vec<(String, Vec<usize>)>,
    /// Names of the layers feeding this one (two for an addition).
    pub inputs: Vec<String>,
}

impl SummaryRow {
    /// The activation size as MATLAB users read it: `"112x112x64"`.
    pub fn activation_text(&self) -> String {
        let [h, w, c] = self.activation;
        format!("{h}x{w}x{c}")
    }

    /// The learnable sizes, e.g. `"7x7x3x64, 1x1x64"`; empty for a layer
    /// without learnables.
    pub fn learnable_text(&self) -> String {
        sizes_text(&self.learnables)
    }

    /// The state sizes, e.g. `"1x1x64, 1x1x64"`.
    pub fn state_text(&self) -> String {
        sizes_text(&self.states)
    }

    /// Number of learnable values of this layer.
    pub fn parameters(&self) -> usize {
        values(&self.learnables)
    }

    /// Number of state values of this layer.
    pub fn state_values(&self) -> usize {
        values(&self.states)
    }
}

/// MATLAB-style counts of a network and its layer table.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Number of layers (rows of the table).
    pub layers: usize,
    /// Number of connections between layers (edges of the layer graph).
    pub connections: usize,
    /// Number of learnable arrays (weights, biases, scales, offsets).
    pub learnables: usize,
    /// Number of state arrays (batch norm running means and variances).
    pub states: usize,
    /// Convolution and fully connected layers on the longest path.
    pub depth: usize,
    /// Number of learnable values (conv biases included when the convs
    /// have them; batch norm statistics excluded).
    pub parameters: usize,
    /// Number of state values (batch norm running statistics).
    pub state_values: usize,
    /// The activation entering global average pooling, `[height, width,
    /// channels]`.
    pub final_activation: [usize; 3],
    /// Number of classes (the length of the output).
    pub classes: usize,
    /// Whether the convolutions carry biases (and so are counted).
    pub conv_bias: bool,
    /// The layers in the order the data flows.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Summarizes the network a spec describes.
    ///
    /// # Errors
    /// The first rule of [`Spec::validate`] the spec breaks.
    pub fn new(spec: &Spec) -> Result<Summary, SpecError> {
        Ok(Summary::from_plan(&spec.plan()?))
    }

    /// Summarizes a plan.
    pub fn from_plan(plan: &Plan) -> Summary {
        let rows = Rows::build(plan);

        // Depth: the most conv and fc layers on any path from the input.
        let mut depth: HashMap<&str, usize> = HashMap::new();
        for row in &rows {
            let before = row
                .inputs
                .iter()
                .map(|i| depth[i.as_str()])
                .max()
                .unwrap_or(0);
            let own = usize::from(matches!(row.kind.as_str(), CONV | FULLY_CONNECTED));
            depth.insert(row.name.as_str(), before + own);
        }
        let depth = rows.last().map_or(0, |row| depth[row.name.as_str()]);

        Summary {
            layers: rows.len(),
            connections: rows.iter().map(|r| r.inputs.len()).sum(),
            learnables: rows.iter().map(|r| r.learnables.len()).sum(),
            states: rows.iter().map(|r| r.states.len()).sum(),
            depth,
            parameters: rows.iter().map(SummaryRow::parameters).sum(),
            state_values: rows.iter().map(SummaryRow::state_values).sum(),
            final_activation: plan.final_activation(),
            classes: plan.fc.out_features,
            conv_bias: plan.stem_conv.bias,
            rows,
        }
    }

    /// The counting convention, in words: what "parameters" includes.
    pub fn convention(&self) -> String {
        let bias = if self.conv_bias {
            "included"
        } else {
            "excluded"
        };
        format!(
            "learnable values, conv biases {bias}; batch norm statistics counted separately \
             as state"
        )
    }

    /// The summary as JSON: the counts (`layers`, `connections`,
    /// `learnables`, `states`, `depth`, `parameters`, `state_values`),
    /// `final_activation` as `[h, w, c]`, `classes`, `convention`, and
    /// `table`, one object per layer with `name`, `type`, `activation`
    /// ("HxWxC"), `learnables`, `states`, `parameters` and `inputs`.
    pub fn to_json(&self) -> serde_json::Value {
        let table: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.name,
                    "type": row.kind,
                    "activation": row.activation_text(),
                    "learnables": row.learnable_text(),
                    "states": row.state_text(),
                    "parameters": row.parameters(),
                    "inputs": row.inputs,
                })
            })
            .collect();

        json!({
            "layers": self.layers,
            "connections": self.connections,
            "learnables": self.learnables,
            "states": self.states,
            "depth": self.depth,
            "parameters": self.parameters,
            "state_values": self.state_values,
            "final_activation": self.final_activation,
            "classes": self.classes,
            "convention": self.convention(),
            "table": table,
        })
    }

    /// The layer graph in Graphviz DOT: one node per layer (labelled with
    /// name, type and activation size), one edge per connection.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph resnet {\n  rankdir=TB;\n  node [shape=box];\n");
        for row in &self.rows {
            out.push_str(&format!(
                "  \"{}\" [label=\"{}\\n{}\\n{}\"];\n",
                row.name,
                row.name,
                row.kind,
                row.activation_text()
            ));
        }
        for row in &self.rows {
            for input in &row.inputs {
                out.push_str(&format!("  \"{input}\" -> \"{}\";\n", row.name));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// The counts, the convention, then the layer table.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [h, w, c] = self.final_activation;
        writeln!(
            f,
            "{} layers, {} connections, depth {}",
            self.layers, self.connections, self.depth
        )?;
        writeln!(
            f,
            "{} learnables ({} values), {} states ({} values)",
            self.learnables,
            thousands(self.parameters),
            self.states,
            thousands(self.state_values)
        )?;
        writeln!(f, "final activation {h}x{w}x{c}, {} classes", self.classes)?;
        writeln!(f, "counted as {}", self.convention())?;
        writeln!(f)?;

        let header = ["#", "Name", "Type", "Activations", "Learnables"];
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                [
                    (i + 1).to_string(),
                    row.name.clone(),
                    row.kind.clone(),
                    row.activation_text(),
                    row.learnable_text(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }

        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 5]| {
            let text: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            writeln!(f, "{}", text.join("  ").trim_end())
        };
        line(f, header)?;
        for row in &cells {
            line(f, [&row[0], &row[1], &row[2], &row[3], &row[4]])?;
        }
        Ok(())
    }
}

const CONV: &str = "2-D Convolution";
const FULLY_CONNECTED: &str = "Fully Connected";

/// Builds the table rows from a plan, tracking the last layer so every row
/// knows its inputs.
struct Rows {
    rows: Vec<SummaryRow>,
}

impl Rows {
    fn build(plan: &Plan) -> Vec<SummaryRow> {
        let mut rows = Rows { rows: Vec::new() };

        rows.push("input", "Image Input", plan.input, vec![], vec![], vec![]);
        let conv = &plan.stem_conv;
        let mut last = rows.conv(conv, "input");
        last = rows.batch_norm(&plan.stem_bn, conv_activation(conv), &last);
        last = rows.relu("relu", conv_activation(conv), &last);
        if let Some(pool) = &plan.stem_pool {
            let (name, kind) = match pool.kind {
                Pooling::Average => ("averagepool", "2-D Average Pooling"),
                _ => ("maxpool", "2-D Max Pooling"),
            };
            last = rows.push(name, kind, pool.output, vec![], vec![], vec![last]);
        }

        for block in &plan.blocks {
            let input = last.clone();
            let last_conv = block.convs.len() - 1;
            for (i, (conv, bn)) in block.convs.iter().zip(&block.bns).enumerate() {
                last = rows.conv(conv, &last);
                if i < last_conv {
                    last = rows.batch_norm(bn, conv_activation(conv), &last);
                    let relu = format!("{}.relu{}", block.name, i + 1);
                    last = rows.relu(&relu, conv_activation(conv), &last);
                } else if !block.bn_after_add {
                    last = rows.batch_norm(bn, conv_activation(conv), &last);
                }
            }

            let shortcut = match &block.shortcut {
                Some((conv, bn)) => {
                    let out = rows.conv(conv, &input);
                    match bn {
                        Some(bn) => rows.batch_norm(bn, conv_activation(conv), &out),
                        None => out,
                    }
                }
                None => input,
            };

            let add = format!("{}.add", block.name);
            last = rows.push(
                &add,
                "Addition",
                block.output,
                vec![],
                vec![],
                vec![last, shortcut],
            );
            if block.bn_after_add {
                if let Some(bn) = block.bns.last() {
                    last = rows.batch_norm(bn, block.output, &last);
                }
            }
            last = rows.relu(&format!("{}.relu", block.name), block.output, &last);
        }

        let [_, _, channels] = plan.final_activation();
        let classes = plan.fc.out_features;
        let kind = "2-D Global Average Pooling";
        last = rows.push(
            "avgpool",
            kind,
            [1, 1, channels],
            vec![],
            vec![],
            vec![last],
        );
        let learnables = vec![
            ("Weights".to_string(), vec![classes, plan.fc.in_features]),
            ("Bias".to_string(), vec![classes, 1]),
        ];
        last = rows.push(
            &plan.fc.name,
            FULLY_CONNECTED,
            [1, 1, classes],
            learnables,
            vec![],
            vec![last],
        );
        rows.push(
            "softmax",
            "Softmax",
            [1, 1, classes],
            vec![],
            vec![],
            vec![last],
        );
        rows.rows
    }

    /// Appends a row and returns its name, the input of the next row.
    fn push(
        &mut self,
        name: &str,
        kind: &str,
        activation: [usize; 3],
        learnables: Vec<(String, Vec<usize>)>,
        states: Vec<(String, Vec<usize>)>,
        inputs: Vec<String>,
    ) -> String {
        self.rows.push(SummaryRow {
            name: name.to_string(),
            kind: kind.to_string(),
            activation,
            learnables,
            states,
            inputs,
        });
        name.to_string()
    }

    fn conv(&mut self, conv: &ConvPlan, input: &str) -> String {
        let [kh, kw] = conv.kernel;
        let mut learnables = vec![(
            "Weights".to_string(),
            vec![kh, kw, conv.in_channels, conv.out_channels],
        )];
        if conv.bias {
            learnables.push(("Bias".to_string(), vec![1, 1, conv.out_channels]));
        }
        let inputs = vec![input.to_string()];
        self.push(
            &conv.name,
            CONV,
            conv_activation(conv),
            learnables,
            vec![],
            inputs,
        )
    }

    fn batch_norm(&mut self, bn: &BatchNormPlan, activation: [usize; 3], input: &str) -> String {
        let size = vec![1, 1, bn.channels];
        let learnables = vec![
            ("Offset".to_string(), size.clone()),
            ("Scale".to_string(), size.clone()),
        ];
        let states = vec![
            ("TrainedMean".to_string(), size.clone()),
            ("TrainedVariance".to_string(), size),
        ];
        let inputs = vec![input.to_string()];
        self.push(
            &bn.name,
            "Batch Normalization",
            activation,
            learnables,
            states,
            inputs,
        )
    }

    fn relu(&mut self, name: &str, activation: [usize; 3], input: &str) -> String {
        self.push(
            name,
            "ReLU",
            activation,
            vec![],
            vec![],
            vec![input.to_string()],
        )
    }
}

/// The output activation of a convolution, `[height, width, channels]`.
fn conv_activation(conv: &ConvPlan) -> [usize; 3] {
    [conv.output[0], conv.output[1], conv.out_channels]
}

fn sizes_text(arrays: &[(String, Vec<usize>)]) -> String {
    let sizes: Vec<String> = arrays
        .iter()
        .map(|(_, size)| {
            let dims: Vec<String> = size.iter().map(|d| d.to_string()).collect();
            dims.join("x")
        })
        .collect();
    sizes.join(", ")
}

fn values(arrays: &[(String, Vec<usize>)]) -> usize {
    arrays
        .iter()
        .map(|(_, size)| size.iter().fold(1usize, |n, d| n.saturating_mul(*d)))
        .fold(0usize, usize::saturating_add)
}

/// `23555082` as `23,555,082`.
fn thousands(n: usize) -> String {
    let mut groups = vec![n % 1000];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }

    let mut out = groups.pop().unwrap_or(0).to_string();
    for group in groups.iter().rev() {
        out.push_str(&format!(",{group:03}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(53_120), "53,120");
        assert_eq!(thousands(23_555_082), "23,555,082");
        assert_eq!(thousands(1_000_001), "1,000,001");
    }
}
